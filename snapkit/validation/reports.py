"""Reports of a validation: a text summary for people, JUnit XML for CI test tabs,
Markdown for a CI job summary, and JSON (`ValidationResult.to_json`) for programs.

Each report shows, for a failed expectation, what was observed: the value of an
aggregate, or how many rows were unexpected and a few of their values.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from snapkit.validation.results import ExpectationResult, ValidationResult
from snapkit.validation.suites import domain_kwargs

SHOWN_SAMPLES = 5


def text_report(result: ValidationResult) -> str:
    """Every expectation on one line (`ok` / `FAIL`), failures first, then a summary."""
    head = (
        f"{result.suite} on {result.target}: {result.rows:,} rows"
        + (f" in {result.batches} batches" if result.batches > 1 else "")
        + (f", engine {result.engine}" if result.engine != "pandas" else "")
    )
    lines = [head]
    for r in sorted(result.results, key=lambda r: r.success):
        lines.append(f"  {'ok  ' if r.success else 'FAIL'}  {r.label}{_criteria(r)}")
        if not r.success:
            lines.append(f"        {observed(r)}")
    counts = result.counts
    verdict = "passed" if result.success else "FAILED"
    lines.append(
        f"{verdict}: {counts['successful']} of {counts['evaluated']} expectations met"
        + (f", {counts['unsuccessful']} failed" if counts["unsuccessful"] else "")
    )
    return "\n".join(lines) + "\n"


def observed(r: ExpectationResult) -> str:
    """What the data showed: `3 unexpected of 3,000 rows (0.1%), e.g. -1, -2`."""
    if r.exception:
        return f"error: {r.exception}"
    parts = []
    if r.unexpected_count is not None:
        of = f" of {r.element_count:,} rows" if r.element_count is not None else ""
        pct = f" ({r.unexpected_percent:.3g}%)" if r.unexpected_percent is not None else ""
        seen = f"{r.unexpected_count:,} unexpected{of}{pct}"
        if r.partial_unexpected_list:
            shown = r.partial_unexpected_list[:SHOWN_SAMPLES]
            seen += ", e.g. " + ", ".join(_value(v) for v in shown)
        parts.append(seen)
    if r.observed_value is not None or not parts:
        parts.insert(0, f"observed {_value(r.observed_value)}")
    mismatch = r.details.get("details", {}).get("mismatched") if r.details else None
    if mismatch:
        parts.append(", ".join(f"{k}: {_value(v)}" for k, v in mismatch.items()))
    missing = r.details.get("partial_missing_list") if r.details else None
    if missing:
        parts.append(f"missing: {_value(missing)}")
    return "; ".join(parts)


def junit_xml(result: ValidationResult) -> str:
    """One <testcase> per expectation: <failure> when unmet, <error> when it raised."""
    failures = sum(1 for r in result.results if not r.success and not r.exception)
    errors = sum(1 for r in result.results if r.exception)
    suites = ET.Element("testsuites", name="snap validate")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"{result.suite} on {result.target}",
        tests=str(len(result.results)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (("rows", result.rows), ("engine", result.engine), ("target", result.target)):
        ET.SubElement(props, "property", name=key, value=str(value))
    for r in result.results:
        case = ET.SubElement(
            suite, "testcase", classname=f"{result.suite}.{r.type}", name=r.label + _criteria(r)
        )
        if r.exception:
            ET.SubElement(case, "error", message=_line(r.exception)).text = r.exception
        elif not r.success:
            body = json.dumps(r.to_json(), indent=2, default=str)
            ET.SubElement(case, "failure", message=_line(observed(r))).text = body
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def markdown(result: ValidationResult) -> str:
    """A heading, the verdict and a table (failures first) for a CI job summary."""
    icon = "✅" if result.success else "❌"
    counts = result.counts
    lines = [
        f"### {icon} `{result.suite}` on `{result.target}`",
        "",
        f"{counts['successful']} of {counts['evaluated']} expectations met "
        f"on {result.rows:,} rows"
        + (f" ({result.engine})" if result.engine != "pandas" else "")
        + ".",
        "",
        "| | expectation | criteria | observed |",
        "|---|---|---|---|",
    ]
    for r in sorted(result.results, key=lambda r: r.success):
        mark = "✅" if r.success else "❌"
        seen = (
            observed(r)
            if not r.success
            else _value(r.observed_value)
            if r.observed_value is not None
            else ""
        )
        lines.append(
            f"| {mark} | `{_cell(r.label)}` | {_cell(_criteria(r).strip(' :'))} | {_cell(seen)} |"
        )
    return "\n".join(lines) + "\n"


def _criteria(r: ExpectationResult) -> str:
    """The kwargs that are not the domain: `: min_value=0, max_value=1`."""
    skip = domain_kwargs(r.type, r.kwargs)
    shown = [f"{k}={_value(v)}" for k, v in r.kwargs.items() if k not in skip]
    return (": " + ", ".join(shown)) if shown else ""


def _value(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:200]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
