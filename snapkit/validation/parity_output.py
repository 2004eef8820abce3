"""A parity report as text, Markdown (a CI job summary) and JUnit XML (a test case per check
and per feature). Every check prints what it measured, passing or not: a value close to
its threshold is worth seeing before it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snapkit.validation.parity import ParityReport, StepParity


@dataclass(frozen=True)
class Check:
    """One line of a report and one JUnit test case."""

    step: str
    kind: str  # fingerprint | contract | replay | drift
    name: str
    passed: bool
    measured: str
    failure: str = ""  # why it failed, several lines at times
    skipped: bool = False

    @property
    def verdict(self) -> str:
        return "skip" if self.skipped else "pass" if self.passed else "FAIL"


def checks(report: ParityReport) -> list[Check]:
    out: list[Check] = []
    for step in report.steps:
        out += _fingerprint(step)
        out += _contract(step)
        out += _replay(step)
        out += _drift(step)
    return out


def _fingerprint(step: StepParity) -> list[Check]:
    fp = step.fingerprint
    if fp.passed:
        measured = "same command, params, env, python, packages, suites and code"
    else:
        found = ", ".join(f"{d.part} {d.name}" for d in fp.failures)
        measured = f"{len(fp.failures)} difference(s): {found}"
    for d in fp.differences:
        if d.expected:
            measured += f"; {d.describe()} ({d.experiment} → {d.production})"
    failure = "\n".join(
        line for d in fp.failures for line in (d.describe(), *(f"    {x}" for x in d.detail))
    )
    return [Check(step.step, "fingerprint", "fingerprint", fp.passed, measured, failure)]


def _contract(step: StepParity) -> list[Check]:
    if not step.contract:
        why = step.contract_skipped or "no suite"
        return [Check(step.step, "contract", "contract", True, why, skipped=True)]
    out = []
    for c in step.contract:
        suite = c.suite.rsplit("/", 1)[-1]
        if c.passed:
            measured = f"{suite} passed"
        else:
            failed = ", ".join(c.failed) or c.note or "see the validation report"
            measured = f"{suite} failed: {failed}"
        name = f"contract {c.role} {c.path}"
        out.append(
            Check(step.step, "contract", name, c.passed, measured, "" if c.passed else measured)
        )
    return out


def _replay(step: StepParity) -> list[Check]:
    r = step.replay
    sampled = ", ".join(f"{i.path}: {i.rows} rows" for i in r.inputs if i.sampled)
    if r.exit_code != 0 or not r.tables:
        failure = "\n".join([r.note or "the replay wrote no table", *r.log_tail])
        return [Check(step.step, "replay", "replay", False, r.note, failure)]
    out = []
    for t in r.tables:
        measured = (
            f"{r.keys} keys sampled ({sampled}); {t.joined} rows joined on the key, "
            f"{t.only_replayed} only in the replay, {t.only_production} only in production"
            + (f"; {t.note}" if t.note else "")
        )
        out.append(
            Check(
                step.step,
                "replay",
                f"replay {t.path}",
                t.passed,
                measured,
                "" if t.passed else measured,
            )
        )
    for c in r.columns:
        measured = f"{c.matched} of {c.compared} rows match, {c.mismatched} mismatch" + (
            f" ({c.note})" if c.note else ""
        )
        failure = "" if c.passed else _skew_failure(c.column, measured, c.examples)
        out.append(Check(step.step, "replay", f"skew {c.column}", c.passed, measured, failure))
    return out


def _skew_failure(column: str, measured: str, examples: tuple[dict[str, Any], ...]) -> str:
    rows = [
        f"    key {x['key']}: experiment {x['experiment']!r}, production {x['production']!r}"
        for x in examples
    ]
    return "\n".join([f"feature {column}: {measured}", *rows])


def _drift(step: StepParity) -> list[Check]:
    out = []
    for d in step.drift:
        if d.value is None:
            measured = d.note
        else:
            measured = f"{d.metric} {d.value:.4f} (threshold {d.threshold:g}, {d.kind})"
        failure = "" if d.passed else f"feature {d.column}: {measured}"
        out.append(Check(step.step, "drift", f"drift {d.column}", d.passed, measured, failure))
    return out


# -- text ---------------------------------------------------------------------------------


def text(report: ParityReport) -> str:
    lines = [
        f"parity: experiment run {report.experiment} vs production run {report.production}"
        f" (key {report.key}, sample {report.sample})"
    ]
    all_checks = checks(report)
    for step in report.steps:
        mine = [c for c in all_checks if c.step == step.step]
        lines.append(f"step {step.step}: {'pass' if step.passed else 'FAIL'}")
        lines += _text_checks([c for c in mine if c.kind in ("fingerprint", "contract")])
        lines += _text_checks(
            [c for c in mine if c.kind == "replay" and c.name.startswith("replay")]
        )
        lines += _text_table(
            "skew",
            ("feature", "match", "mismatch", "verdict"),
            [
                (c.column, f"{c.matched}/{c.compared}", str(c.mismatched), _verdict(c.passed))
                for c in step.replay.columns
            ],
        )
        lines += _text_examples(mine)
        lines += _text_table(
            "drift",
            ("feature", "kind", "metric", "value", "threshold", "verdict"),
            [
                (
                    d.column,
                    d.kind,
                    d.metric,
                    "-" if d.value is None else f"{d.value:.4f}",
                    f"{d.threshold:g}",
                    _verdict(d.passed) + (f" ({d.note})" if d.note else ""),
                )
                for d in step.drift
            ],
        )
        lines += [f"  note: {n}" for n in step.notes]
    failed = [c for c in all_checks if not c.passed]
    if report.passed:
        lines.append(f"parity: pass ({len(all_checks)} checks)")
    else:
        lines.append(f"parity: FAIL ({len(failed)} of {len(all_checks)} checks failed)")
    return "\n".join(lines) + "\n"


def _verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _text_checks(found: list[Check]) -> list[str]:
    """`  kind   verdict  name: measured`, then the failure's detail lines, indented."""
    out = []
    for c in found:
        label = c.name.removeprefix(c.kind).strip()
        out.append(f"  {c.kind:<12} {c.verdict:<4}  {label + ': ' if label else ''}{c.measured}")
        if c.kind == "fingerprint" and c.failure:
            out += [f"{'':20}{x}" for x in c.failure.splitlines()]
        if c.kind == "replay" and not c.passed and c.failure != c.measured:
            out += [f"{'':20}{x}" for x in c.failure.splitlines()]
    return out


def _text_examples(found: list[Check]) -> list[str]:
    out = []
    for c in found:
        if c.name.startswith("skew") and c.failure:
            out += [
                f"{'':4}{x.strip()}" if i == 0 else f"{'':6}{x.strip()}"
                for i, x in enumerate(c.failure.splitlines())
            ]
    return out


def _text_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        return "    " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()

    return [f"  {title}", line(header), *(line(r) for r in rows)]


# -- Markdown -------------------------------------------------------------------------------


def markdown(report: ParityReport) -> str:
    icon = {"pass": "✅ pass", "FAIL": "❌ **fail**", "skip": "⚪ skip"}
    verdict = "✅ pass" if report.passed else "❌ fail"
    lines = [
        f"## Parity: {verdict}",
        "",
        f"Experiment run `{report.experiment}` vs production run `{report.production}`, "
        f"joined on `{report.key}`, replay sample {report.sample} keys.",
    ]
    all_checks = checks(report)
    for step in report.steps:
        lines += [
            "",
            f"### Step `{step.step}`",
            "",
            "| check | verdict | measured |",
            "|---|---|---|",
        ]
        for c in (c for c in all_checks if c.step == step.step):
            lines.append(f"| {c.name} | {icon[c.verdict]} | {_cell(c.measured)} |")
        details = [c for c in all_checks if c.step == step.step and c.failure]
        for c in details:
            lines += [
                "",
                f"<details><summary>{c.name}</summary>",
                "",
                "```",
                c.failure,
                "```",
                "</details>",
            ]
        lines += ["", *(f"> {n}" for n in step.notes)] if step.notes else []
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- JUnit ------------------------------------------------------------------------------------


def junit(report: ParityReport) -> str:
    """One test suite per step, one test case per check and per feature."""
    import xml.etree.ElementTree as ET

    all_checks = checks(report)
    root = ET.Element(
        "testsuites",
        name="snap parity",
        tests=str(len(all_checks)),
        failures=str(sum(1 for c in all_checks if not c.passed)),
    )
    for step in report.steps:
        mine = [c for c in all_checks if c.step == step.step]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"parity {step.step}",
            tests=str(len(mine)),
            failures=str(sum(1 for c in mine if not c.passed)),
            skipped=str(sum(1 for c in mine if c.skipped)),
        )
        for c in mine:
            case = ET.SubElement(
                suite, "testcase", classname=f"parity.{step.step}.{c.kind}", name=c.name
            )
            if c.skipped:
                ET.SubElement(case, "skipped", message=c.measured)
            elif not c.passed:
                failure = ET.SubElement(case, "failure", message=c.measured[:500], type=c.kind)
                failure.text = c.failure or c.measured
            ET.SubElement(case, "system-out").text = c.measured
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
