"""Parity thresholds: how much drift and skew is tolerated, from a YAML or JSON file.

    linf: 0.1            # categorical columns: L-infinity distance of category shares
    js: 0.1              # numeric columns: Jensen-Shannon divergence (base 2, in [0, 1])
    bins: 20             # histogram bins per side (the union of both sides' edges is used)
    rtol: 1.0e-9         # replay: numeric values match within this relative tolerance …
    atol: 1.0e-12        # … or this absolute one; other values must be equal
    columns:             # per-column overrides
      sender_domain: {linf: 0.05}
      body_len_norm: {js: 0.2}
      label: {kind: categorical}    # an integer column measured by category shares
      notes: {skip: true}           # not measured for drift

Loading is strict: an unknown key is an error that names it, so a typo cannot silently
leave a default in force.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from snapkit.errors import UsageError

KINDS = ("categorical", "numeric")


@dataclass(frozen=True)
class ColumnRule:
    """The thresholds in force for one column (defaults with its overrides applied)."""

    linf: float = 0.1
    js: float = 0.1
    kind: str | None = None  # None: from the column's type (strings, booleans: categorical)
    skip: bool = False


@dataclass(frozen=True)
class Thresholds:
    linf: float = 0.1
    js: float = 0.1
    bins: int = 20
    rtol: float = 1e-9
    atol: float = 1e-12
    columns: dict[str, ColumnRule] = field(default_factory=dict)

    def rule(self, column: str) -> ColumnRule:
        return self.columns.get(column, ColumnRule(self.linf, self.js))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_thresholds(path: str | Path | None) -> Thresholds:
    """The thresholds in `path` (YAML or JSON), or the defaults when `path` is None."""
    if path is None:
        return Thresholds()
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read thresholds file {source}: {exc.strerror or exc}") from exc
    return parse_thresholds(_load_document(text, source), str(source))


def parse_thresholds(doc: Any, where: str = "thresholds") -> Thresholds:
    if doc is None:
        return Thresholds()
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: must be a mapping (linf, js, bins, rtol, atol, columns)")
    _refuse_unknown(doc, {"linf", "js", "bins", "rtol", "atol", "columns"}, where)
    base = Thresholds(
        linf=_number(doc, "linf", 0.1, where),
        js=_number(doc, "js", 0.1, where),
        bins=int(_number(doc, "bins", 20, where)),
        rtol=_number(doc, "rtol", 1e-9, where),
        atol=_number(doc, "atol", 1e-12, where),
    )
    if base.bins < 1:
        raise UsageError(f"{where}: bins must be at least 1")
    columns = doc.get("columns") or {}
    if not isinstance(columns, dict):
        raise UsageError(f"{where}: columns must be a mapping of column name → overrides")
    rules = {
        str(name): _column_rule(raw, base, f"{where}: columns.{name}")
        for name, raw in columns.items()
    }
    return replace(base, columns=rules)


def _column_rule(raw: Any, base: Thresholds, where: str) -> ColumnRule:
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be a mapping (linf, js, kind, skip)")
    _refuse_unknown(raw, {"linf", "js", "kind", "skip"}, where)
    kind = raw.get("kind")
    if kind is not None and kind not in KINDS:
        raise UsageError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    return ColumnRule(
        linf=_number(raw, "linf", base.linf, where),
        js=_number(raw, "js", base.js, where),
        kind=kind,
        skip=bool(raw.get("skip", False)),
    )


def _load_document(text: str, source: Path) -> Any:
    if source.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise UsageError(f"thresholds file {source} is not valid JSON: {exc}") from exc
    import yaml  # YAML is a superset of JSON: any other suffix is read as YAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"thresholds file {source} is not valid YAML: {exc}") from exc


def _refuse_unknown(doc: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(doc) - known)
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(known))}",
        )


def _number(doc: dict[str, Any], key: str, default: float, where: str) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UsageError(f"{where}.{key}: {value!r} is not a non-negative number")
    return float(value)
