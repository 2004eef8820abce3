"""Expectation suites: GX 1.x JSON files, loaded strictly.

    {"name": "spam_raw",
     "expectations": [{"type": "expect_column_values_to_not_be_null",
                       "kwargs": {"column": "id"}, "meta": {}}],
     "meta": {}}

Great Expectations itself drops an expectation whose type it does not know, so a typo in a
suite would silently check less. Here every type is looked up in GX's registry of
expectation classes and every kwarg against that class's (pydantic) fields; anything else
is an `InvalidSuite` error that names the expectation, its position and the bad part.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blake3 import blake3

from snapkit.errors import InvalidSuite, from_os_error

SUITE_KEYS = {"name", "expectations", "meta", "id", "notes"}
EXPECTATION_KEYS = {"type", "kwargs", "meta", "id", "notes", "description", "severity"}
# fields of every GX expectation class that belong next to `kwargs`, not inside it
NOT_KWARGS = {"id", "meta", "notes", "rendered_content", "windows"}
DOMAIN_KWARGS = ("column", "column_A", "column_B", "column_list")


def suite_digest(path: str | os.PathLike[str]) -> str:
    """The BLAKE3 of a suite file's bytes, as a step's fingerprint records it (or
    "(unreadable)"): what parity compares to tell whether a suite changed."""
    try:
        return blake3(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "(unreadable)"


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite, as written in its file (checked against GX)."""

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    index: int = 0  # position in the suite file, from 0

    @property
    def label(self) -> str:
        """`expect_column_values_to_be_between(column=n_words)`: the type and its domain."""
        domain = [f"{k}={_short(v)}" for k, v in domain_kwargs(self.type, self.kwargs).items()]
        return f"{self.type}({', '.join(domain)})" if domain else self.type

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Suite:
    name: str
    expectations: tuple[ExpectationSpec, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "<inline>"  # the file it was read from

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expectations": [
                {"type": e.type, "kwargs": e.kwargs, **({"meta": e.meta} if e.meta else {})}
                for e in self.expectations
            ],
            "meta": self.meta,
        }


def domain_kwargs(type_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The kwargs that say what is checked (the column…), as opposed to how."""
    if type_name.startswith("expect_table_"):
        return {}
    return {k: kwargs[k] for k in DOMAIN_KWARGS if k in kwargs}


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read and strictly check a suite file (see the module docstring)."""
    where = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSuite(f"suite {where} is not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise from_os_error(exc, "cannot read suite") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSuite(
            f"suite {where} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    return parse_suite(doc, where)


def parse_suite(doc: Any, source: str = "<inline>") -> Suite:
    """A suite document (already parsed JSON) → a checked `Suite`."""
    if not isinstance(doc, dict):
        raise InvalidSuite(f"suite {source}: must be a JSON object with `name` and `expectations`")
    if "expectation_suite_name" in doc:
        raise InvalidSuite(
            f"suite {source} is in the Great Expectations 0.x format (expectation_suite_name)",
            hint='GX 1.x suites have "name" and expectations with "type" and "kwargs"',
        )
    _no_unknown_keys(doc, SUITE_KEYS, f"suite {source}")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidSuite(f"suite {source}: `name` must be a non-empty string")
    items = doc.get("expectations")
    if not isinstance(items, list):
        raise InvalidSuite(f"suite {source}: `expectations` must be a list")
    meta = doc.get("meta") or {}
    if not isinstance(meta, dict):
        raise InvalidSuite(f"suite {source}: `meta` must be an object")
    specs = tuple(_expectation(item, i, source) for i, item in enumerate(items))
    return Suite(name, specs, meta, source)


def _expectation(item: Any, index: int, source: str) -> ExpectationSpec:
    where = f"suite {source}: expectation #{index + 1}"
    if not isinstance(item, dict):
        raise InvalidSuite(f"{where} must be an object with `type` and `kwargs`")
    if "expectation_type" in item:
        raise InvalidSuite(
            f"{where} uses `expectation_type` (Great Expectations 0.x)", hint="rename it `type`"
        )
    _no_unknown_keys(item, EXPECTATION_KEYS, where)
    type_name = item.get("type")
    if not isinstance(type_name, str):
        raise InvalidSuite(f"{where}: `type` must be a string")
    kwargs = item.get("kwargs") or {}
    meta = item.get("meta") or {}
    if not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise InvalidSuite(f"{where} ({type_name}): `kwargs` and `meta` must be objects")
    from snapkit.validation.gx import expectation_class, known_types

    try:
        cls = expectation_class(type_name)
    except KeyError:
        close = difflib.get_close_matches(type_name, known_types(), n=1)
        raise InvalidSuite(
            f"{where}: unknown expectation type {type_name!r}",
            hint=f"did you mean {close[0]}?" if close else "see the Great Expectations gallery",
        ) from None
    _check_kwargs(cls, type_name, kwargs, where)
    return ExpectationSpec(type_name, dict(kwargs), dict(meta), index)


def _check_kwargs(cls: type, type_name: str, kwargs: dict[str, Any], where: str) -> None:
    """Unknown kwargs by name, then GX's own (pydantic) checks of the values."""
    fields = set(cls.__fields__)  # type: ignore[attr-defined]  # pydantic v1 model
    allowed = fields - NOT_KWARGS
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(allowed), n=1)
        raise InvalidSuite(
            f"{where} ({type_name}): unknown kwarg {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else ""),
            hint=f"did you mean {close[0]!r}?" if close else f"it takes: {_public(allowed)}",
        )
    try:
        cls(**kwargs)
    except Exception as exc:  # pydantic's ValidationError, or a GX check in a validator
        raise InvalidSuite(f"{where} ({type_name}): {_kwarg_problem(exc, kwargs)}") from None


def _kwarg_problem(exc: Exception, kwargs: dict[str, Any]) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return f"bad kwargs: {exc}"
    seen: dict[str, str] = {}
    for err in errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        seen.setdefault(loc, str(err.get("msg", "")))
    parts = []
    for loc, msg in seen.items():
        top = loc.split(".")[0]
        if not loc:
            parts.append(msg)
        elif top not in kwargs:
            parts.append(f"missing kwarg {top!r} ({msg})")
        else:
            parts.append(f"bad kwarg {top}={_short(kwargs[top])}: {msg}")
    return "; ".join(parts) or f"bad kwargs: {exc}"


def _no_unknown_keys(doc: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InvalidSuite(f"{where}: unknown field {unknown[0]!r} (allowed: {_public(allowed)})")


def _public(names: set[str]) -> str:
    return ", ".join(sorted(n for n in names if not n.startswith("_")))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."
