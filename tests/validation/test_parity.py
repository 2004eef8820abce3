"""`snap parity` on real runs of the spam pipeline (3,000 emails a run, preprocess only).

One project, five runs: the experiment, production (other seed and spam share: other data,
same preprocessing), production with another normalization constant, production with a
preprocess.py that maps one sender domain onto another, and production checked against
a loosened suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import snapkit
from snapkit.pipeline.records import RunRecord
from snapkit.validation.parity import ParityReport
from tests.cli.conftest import assert_fails, assert_ok, run_snap
from tests.helpers import spam_project

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"generate.rows": 3000}
FEATURES = ["n_words", "n_links", "spam_word_share", "subject_len", "body_len_norm",
            "sender_domain", "label"]  # fmt: skip
DOMAIN_CODE = 'return pc.fill_null(pc.utf8_lower(domain), "unknown")'
REMAPPED_CODE = (
    'domain = pc.fill_null(pc.utf8_lower(domain), "unknown")\n'
    '    return pc.replace_substring_regex(domain, r"^inbox\\.test$", "mail.test")'
)


@dataclass(frozen=True)
class Runs:
    root: Path
    env: dict[str, str]
    experiment: RunRecord
    production: RunRecord
    norm_changed: RunRecord
    remapped: RunRecord
    loosened: RunRecord

    def store(self) -> snapkit.Store:
        return snapkit.open_store(str(self.root / ".snap"), cwd=self.root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = spam_project(tmp_path_factory.mktemp("parity") / "proj")
    pipe = root / "pipelines/spam"
    env = {"SNAP_CACHE_DIR": str(root.parent / "cache")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNAP_CACHE_DIR", env["SNAP_CACHE_DIR"])
        mp.delenv("SNAP_STORE", raising=False)
        with snapkit.open_store(str(root / ".snap"), create=True, cwd=root) as store:

            def run(config: str | None, **params: object) -> RunRecord:
                return store.run(
                    pipe, config=config, params={**SMALL, **params}, to_step="preprocess"
                )

            experiment = run(None)
            production = run("production")
            norm_changed = run("production", **{"preprocess.norm_body_len": 1000})
            code = pipe / "preprocess.py"
            original = code.read_text()
            assert DOMAIN_CODE in original
            code.write_text(original.replace(DOMAIN_CODE, REMAPPED_CODE))
            remapped = run("production")
            code.write_text(original)
            suite = root / "expectations/spam_features.json"
            strict = suite.read_text()
            doc = json.loads(strict)
            doc["expectations"] = [
                e for e in doc["expectations"] if e["type"] != "expect_column_values_to_be_unique"
            ]
            suite.write_text(json.dumps(doc))
            loosened = run("production")
            suite.write_text(strict)
        yield Runs(root, env, experiment, production, norm_changed, remapped, loosened)


def parity(runs: Runs, production: RunRecord, **options: object) -> ParityReport:
    with runs.store() as store:
        return store.parity(runs.experiment.id, production.id, **options)  # type: ignore[arg-type]


def snap(runs: Runs, *args: str) -> subprocess.CompletedProcess[str]:
    return run_snap(*args, cwd=runs.root, env=runs.env)


# -- identical preprocessing, other data: pass -----------------------------------------


def test_same_preprocessing_on_other_data_passes(runs: Runs):
    assert runs.production.step("generate").fingerprint["params"]["generate.seed"] == 1
    report = parity(runs, runs.production, sample=1000)
    assert report.passed, report.to_json()
    (step,) = report.steps
    assert step.step == "preprocess"  # default: the step with a suite that reads data
    # a. only the data dep differs, and that is expected
    assert [(d.part, d.name, d.expected) for d in step.fingerprint.differences] == [
        ("data", "data/raw", True)
    ]
    # b. the suite from pipeline.yaml ran on both outputs
    assert [(c.role, c.path, c.success) for c in step.contract] == [
        ("experiment", "data/features/features.parquet", True),
        ("production", "data/features/features.parquet", True),
    ]
    # c. 1,000 production keys replayed with the experiment's code: every feature matches
    assert step.replay.keys == 1000 and step.replay.exit_code == 0
    (table,) = step.replay.tables
    assert (table.joined, table.only_replayed, table.only_production) == (1000, 0, 0)
    assert {c.column: (c.compared, c.mismatched) for c in step.replay.columns} == {
        f: (1000, 0) for f in FEATURES
    }
    # d. every feature measured, all within the default thresholds
    drift = {d.column: d for d in step.drift}
    assert sorted(drift) == sorted(FEATURES)
    assert drift["sender_domain"].metric == "linf" and drift["n_words"].metric == "js"
    assert all(d.value is not None and d.value <= d.threshold == 0.1 for d in drift.values())
    assert 0 < drift["sender_domain"].value < 0.05  # type: ignore[operator]
    assert json.loads(json.dumps(report.to_json()))["verdict"] == "pass"


def test_cli_pass_prints_measured_values_and_writes_reports(runs: Runs, tmp_path: Path):
    junit, markdown = tmp_path / "parity.xml", tmp_path / "parity.md"
    out = assert_ok(
        snap(
            runs, "parity", runs.experiment.id, runs.production.id, "--sample", "500",
            "--junit", str(junit), "--markdown", str(markdown),
        )
    )  # fmt: skip
    assert out.splitlines()[-1] == "parity: pass (18 checks)"
    for feature in FEATURES:  # measured values are printed for passing features too
        drift_line = next(x for x in out.splitlines() if x.split()[:1] == [feature] and "0." in x)
        assert drift_line.split()[-1] == "pass"
    assert "500/500" in out and "data differs (expected)" in out
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == 18 and not ET.parse(junit).getroot().findall(".//failure")
    assert {c.get("name") for c in cases} >= {f"drift {f}" for f in FEATURES}
    assert markdown.read_text().startswith("## Parity: ✅ pass")


# -- production checked against a loosened suite: fingerprint ----------------------------


def test_a_suite_loosened_for_production_fails_the_fingerprint(runs: Runs):
    """Production's output was checked against other suite content than the experiment's:
    it was held to another contract. The contract check (both outputs against the suite
    as it is now) cannot see that; the fingerprint names the output and both digests."""
    digests = [
        r.step("preprocess").fingerprint["suites"]["data/features/features.parquet"]
        for r in (runs.experiment, runs.loosened)
    ]
    assert digests[0] != digests[1]
    report = parity(runs, runs.loosened, sample=300)
    assert not report.passed
    (step,) = report.steps
    assert [(d.part, d.name, d.experiment, d.production) for d in step.fingerprint.failures] == [
        ("suite", "data/features/features.parquet", digests[0][:12], digests[1][:12])
    ]
    assert all(c.success for c in step.contract)  # the same preprocessing: the rest passes
    assert step.replay.exit_code == 0 and all(c.mismatched == 0 for c in step.replay.columns)
    result = snap(runs, "parity", runs.experiment.id, runs.loosened.id, "--sample", "300")
    assert_fails(result, 16, "fingerprint")
    line = f"suite data/features/features.parquet: {digests[0][:12]} → {digests[1][:12]}"
    assert line in result.stdout


def test_a_suite_edited_since_the_experiment_is_noted(runs: Runs):
    """The contract check validates both outputs against the suite as it is now; when
    that is not what the experiment was checked against, the report says so."""
    suite = runs.root / "expectations/spam_features.json"
    original = suite.read_text()
    assert "changed since" not in " ".join(parity(runs, runs.production, sample=200).steps[0].notes)
    suite.write_text(original + "\n")
    try:
        report = parity(runs, runs.production, sample=200)
        result = snap(runs, "parity", runs.experiment.id, runs.production.id, "--sample", "200")
    finally:
        suite.write_text(original)
    assert report.passed  # the same rules: only noted
    (note,) = [n for n in report.steps[0].notes if "changed since" in n]
    then = runs.experiment.step("preprocess").fingerprint["suites"][
        "data/features/features.parquet"
    ]
    assert note.startswith(f"the suite for data/features/features.parquet changed since the "
                           f"experiment ran ({then[:12]} → ")  # fmt: skip
    assert_ok(result)
    assert f"note: {note}" in result.stdout


def test_a_step_without_a_suite_skips_the_contract_and_says_why(runs: Runs):
    """No suite for the step: the contract is a skipped check carrying the reason, kept
    apart from the notes (a note that happens to say "contract" stays a note)."""
    from dataclasses import replace

    from snapkit.validation import parity as parity_module
    from snapkit.validation.parity_output import checks, junit, markdown, text

    with runs.store() as store:
        none = parity_module._contract(
            store, runs.experiment, runs.production, "preprocess", {}, None
        )
    reason = "step preprocess has no expectation suite: contract not checked (give --suite)"
    assert none == ((), (), reason)
    report = parity(runs, runs.production, sample=200)
    note = "data/features/contracts.parquet: written only by the experiment run"
    step = replace(report.steps[0], contract=(), contract_skipped=reason, notes=(note,))
    report = replace(report, steps=(step,))
    assert report.passed and report.to_json()["steps"][0]["contract_skipped"] == reason
    (skipped,) = [c for c in checks(report) if c.kind == "contract"]
    assert (skipped.verdict, skipped.measured) == ("skip", reason)
    shown = text(report)
    assert f"note: {note}" in shown and reason in shown
    assert f"> {note}" in markdown(report)
    (case,) = [
        c for c in ET.fromstring(junit(report)).iter("testcase") if c.get("name") == "contract"
    ]
    assert case.find("skipped").get("message") == reason  # type: ignore[union-attr]


# -- a changed normalization constant: fingerprint and replay -------------------------


def test_changed_normalization_is_caught_by_fingerprint_and_replay(runs: Runs):
    report = parity(runs, runs.norm_changed, sample=500)
    assert not report.passed
    (step,) = report.steps
    failures = [(d.part, d.name, d.experiment, d.production) for d in step.fingerprint.failures]
    assert ("param", "preprocess.norm_body_len", "500", "1000") in failures
    command = next(d for d in step.fingerprint.failures if d.part == "command")
    assert command.detail == ("differs only in the values of param(s) preprocess.norm_body_len",)
    skew = {c.column: c for c in step.replay.columns}
    assert (skew["body_len_norm"].compared, skew["body_len_norm"].mismatched) == (500, 500)
    assert all(skew[f].mismatched == 0 for f in FEATURES if f != "body_len_norm")
    example = skew["body_len_norm"].examples[0]
    assert example["experiment"] == pytest.approx(2 * example["production"])
    drift = {d.column: d for d in step.drift}
    assert not drift["body_len_norm"].passed and drift["body_len_norm"].value > 0.1  # type: ignore[operator]


def test_cli_fails_with_exit_16_naming_param_and_feature(runs: Runs):
    result = snap(runs, "parity", runs.experiment.id, runs.norm_changed.id, "--sample", "300")
    error = assert_fails(result, 16, "fingerprint", "skew body_len_norm")
    assert "skew n_words" not in error
    assert "param preprocess.norm_body_len: 500 → 1000" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["body_len_norm", "0/300", "300", "FAIL"] in rows  # the skew table
    assert ["n_words", "300/300", "0", "pass"] in rows
    assert "parity: FAIL" in result.stdout


# -- a remapped category: L-infinity drift (and code difference, and skew) --------------


def test_remapped_category_is_caught_by_linf_drift(runs: Runs):
    report = parity(runs, runs.remapped, sample=1000)
    assert not report.passed
    (step,) = report.steps
    drift = {d.column: d for d in step.drift}
    domain = drift["sender_domain"]
    assert (domain.kind, domain.metric, domain.passed) == ("categorical", "linf", False)
    assert domain.value is not None and domain.value > 0.1
    assert domain.distribution is not None and "inbox.test" in domain.distribution.labels
    assert [d.column for d in step.drift if not d.passed] == ["sender_domain"]
    (code,) = step.fingerprint.failures
    assert (code.part, code.name) == ("code", "preprocess.py")
    assert any("+" in line and "mail.test" in line for line in code.detail)
    skew = {c.column: c for c in step.replay.columns}
    assert skew["sender_domain"].mismatched > 0
    assert {(x["experiment"], x["production"]) for x in skew["sender_domain"].examples} == {
        ("inbox.test", "mail.test")
    }
    assert all(skew[f].mismatched == 0 for f in FEATURES if f != "sender_domain")


def test_thresholds_file_overrides_a_column_and_steps_must_have_run(runs: Runs, tmp_path: Path):
    limits = tmp_path / "parity.yaml"
    limits.write_text("columns:\n  sender_domain: {linf: 0.5}\n")
    report = parity(runs, runs.remapped, sample=200, thresholds=limits)
    domain = next(d for d in report.steps[0].drift if d.column == "sender_domain")
    assert domain.passed and domain.threshold == 0.5 and domain.value > 0.1  # type: ignore[operator]
    assert not report.passed  # the code difference and the skew still fail it
    a, b = runs.experiment.id, runs.production.id
    assert_fails(snap(runs, "parity", a, b, "--step", "train"), 3, "train", "not-selected")
    assert_fails(snap(runs, "parity", a, b, "--step", "nosuch"), 3, "nosuch")
    assert_fails(snap(runs, "parity", a, b, "--key", "email_id"), 2, "--key email_id")


def test_a_suite_failing_on_one_side_fails_the_contract(runs: Runs, tmp_path: Path):
    suite = tmp_path / "short_bodies.json"
    short = {"column": "body_len_norm", "min_value": 0, "max_value": 0.6}
    suite.write_text(
        json.dumps(
            {
                "name": "short_bodies",
                "expectations": [{"type": "expect_column_values_to_be_between", "kwargs": short}],
            }
        )
    )
    report = parity(runs, runs.norm_changed, sample=100, suite=suite)
    experiment, production = report.steps[0].contract
    assert (experiment.role, experiment.passed, production.passed) == ("experiment", False, True)
    assert experiment.failed == ("expect_column_values_to_be_between(body_len_norm)",)


# -- the HTML report in a real browser ---------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXPERIMENT_RGB, PRODUCTION_RGB = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must install it (see .ci/run)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


def browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}",
    ]  # fmt: skip
    return subprocess.run(
        [chromium, *flags, *args], capture_output=True, text=True, timeout=60, check=True
    )


def test_html_report_shows_one_plot_per_feature(runs: Runs, chromium: str, tmp_path: Path):
    from tests.validation.png import read_png

    page = tmp_path / "parity.html"
    result = snap(runs, "parity", runs.experiment.id, runs.remapped.id, "--report", str(page))
    assert_fails(result, 16, "drift sender_domain")
    html = page.read_text()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    dom = browse(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert dom.count('<svg class="feature-plot"') == len(FEATURES)
    for feature in FEATURES:
        assert f'data-column="{feature}"' in dom
    shot = tmp_path / "parity.png"
    browse(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2000",
           page.as_uri())  # fmt: skip
    assert shot.stat().st_size > 20_000
    pixels = read_png(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    colours = pixels.reshape(-1, 3)
    for rgb in (EXPERIMENT_RGB, PRODUCTION_RGB):  # both sides drawn, in quantity
        assert (colours == rgb).all(axis=1).sum() > 2_000, rgb
    if os.environ.get("SNAP_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["SNAP_KEEP_SCREENSHOT"])
