"""A smoke of the benchmark harness (not a timed test): a tiny dataset, one scenario, both
tools, one repetition; the samples and the report have the right shape."""

from __future__ import annotations

import shutil
from contextlib import closing
from pathlib import Path

from benchmarks import report
from benchmarks.datasets import LARGE, SMALL, TINY, apply_modification, dataset_dir
from benchmarks.results import write_section
from benchmarks.runner import DatasetSpec, Plan, run_plan
from benchmarks.tools.base import GROWTH, RESTORE, RESTORE_COLD, RETAKE, SIZE, STORED, TAKE
from benchmarks.tools.dvc import Dvc
from benchmarks.tools.snapkit import Snapkit
from benchmarks.trash import FEW_ENTRIES, Trash, quiet_seconds_for
from snapkit.api import open_store
from tests.helpers import write


def test_datasets_are_deterministic_and_modification_applies(tmp_path: Path) -> None:
    first = dataset_dir(tmp_path / "a", LARGE, TINY)
    second = dataset_dir(tmp_path / "b", LARGE, TINY)
    for path in (first / "v1").iterdir():
        assert path.read_bytes() == (second / "v1" / path.name).read_bytes()
    csv = (first / "v1" / "emails-0.csv").read_bytes()
    appended = (first / "v2" / "emails-0.csv").read_bytes()
    assert appended.startswith(csv) and len(appended) > len(csv)
    small = dataset_dir(tmp_path / "a", SMALL, TINY)
    changed = sorted(p.relative_to(small / "v2") for p in (small / "v2").rglob("*.eml"))
    assert len(changed) == len(list((small / "v1").rglob("*.eml"))) // 100 + 1
    apply_modification(small, small / "v1")
    assert (small / "v1" / changed[0]).read_bytes().endswith(b"P.S. edited\n")


def test_one_scenario_both_tools_one_rep(tmp_path: Path) -> None:
    spec = DatasetSpec(SMALL, SMALL, TINY)
    scenarios = (TAKE, SIZE, RESTORE, RESTORE_COLD, RETAKE, GROWTH)
    plan = Plan(tmp_path, (spec,), frozenset(scenarios), (Snapkit(), Dvc()), 1)
    samples = run_plan(plan, log=lambda _line: None)
    got = {(s.scenario, s.tool) for s in samples}
    expected = {(sc, t) for sc in scenarios for t in ("snapkit", "dvc")}
    assert got == expected | {(TAKE, "read+blake3"), (TAKE, "read+blake3+write")}
    for s in samples:
        assert s.dataset == SMALL and s.rep == 0
        if s.scenario in STORED:
            assert s.stored_bytes is not None and s.stored_bytes > 0
        else:
            assert s.seconds is not None and s.seconds > 0
            assert s.peak_rss is not None and s.peak_rss > 1_000_000
    assert not any((tmp_path / "runs").iterdir())  # workspaces removed
    assert not (tmp_path / "trash").exists()  # and what they held deleted at the end

    table = report.ratio_table(report.medians(samples), [SMALL])
    assert len(table.splitlines()) == 2 + 6 + 3  # header, 6 scenarios, 2 baselines, RSS
    out = tmp_path / "RESULTS.md"
    write_section(out, "smoke", table)
    write_section(out, "smoke", table)
    assert out.read_text().count("bench:smoke begin") == 1


def test_trash_defers_deleting_many_files_to_the_end_of_a_block(tmp_path: Path) -> None:
    many = tmp_path / "work" / "many"
    for i in range(FEW_ENTRIES):
        write(many / f"d{i % 3}" / f"f{i}.txt", "x")
    inode = (many / "d0/f0.txt").stat().st_ino
    few = tmp_path / "work" / "few"
    write(few / "big.bin", "y")
    trash = Trash(tmp_path / "trash", quiet_seconds=0)
    trash.discard(many)
    trash.discard(few)  # few entries: deleted at once
    trash.discard(tmp_path / "missing")  # nothing to do
    assert not many.exists() and not few.exists()
    [moved] = (tmp_path / "trash").iterdir()
    assert (moved / "d0/f0.txt").stat().st_ino == inode  # renamed, not copied: no inode freed
    shutil.copytree(moved, many)
    trash.discard(many)  # a second folder of the same name does not collide
    assert len(list((tmp_path / "trash").iterdir())) == 2
    trash.settle(log=lambda _line: None)
    assert not (tmp_path / "trash").exists()
    assert quiet_seconds_for(Path("/proc/self")) == 0  # not a block device: never waits


def test_partial_runs_write_their_own_section() -> None:
    """A run of some scenarios must not replace the full run's section in RESULTS.md."""
    from benchmarks.cli import default_label, parse

    assert default_label(parse([])) == "full"
    assert default_label(parse(["--quick"])) == "quick"
    assert default_label(parse(["--scenario", "retake"])) == "full-retake"
    assert default_label(parse(["--dataset", "few-large", "--tools", "snapkit"])) == (
        "full-few-large-snapkit"
    )
    assert default_label(parse(["--scale", "10", "--tools", "snapkit"])) == "full-scale10"


def test_floor_scripts_do_the_work_they_stand_for(tmp_path: Path) -> None:
    """benchmarks/tools/floor.py: the take floor reads every byte and stores them
    compressed; the restore floor writes back exactly what was taken."""
    from benchmarks.tools import floor

    data = dataset_dir(tmp_path / "work", LARGE, TINY) / "v1"
    total = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    read, stored = floor.take(data, tmp_path / "packs")
    assert read == total and 0 < stored < total  # the CSV compresses
    assert sum(p.stat().st_size for p in (tmp_path / "packs").iterdir()) == stored
    with closing(open_store(str(tmp_path / "store"), create=True, cwd=tmp_path)) as store:
        store.take(data, tags=["v1"])
    for out, verify in ((tmp_path / "out", True), (tmp_path / "unverified", False)):
        files, written = floor.restore(str(tmp_path / "store"), "v1", out, verify=verify)
        assert (files, written) == (len(list(data.iterdir())), total)
        for path in data.iterdir():
            assert (out / path.name).read_bytes() == path.read_bytes()


def test_page_cache_and_codec_tools_measure_every_case(tmp_path: Path) -> None:
    """benchmarks/tools/pagecache.py and codecs.py, at a tiny size: every case runs, the
    files it wrote are gone, and each codec's output decodes back (its rates are real)."""
    from benchmarks.tools import codecs, pagecache

    rows = pagecache.measure(tmp_path / "io", 48, pause=0)
    assert [case.split(",")[-1].strip() for case, _, _ in rows] == [
        "64 KiB per write",
        "512 KiB per write",
        "1024 KiB per write",
        "4096 KiB per write",
        "whole-pack writes",
        "512 KiB writes",
        "O_DIRECT",
        "8192 KiB reads",
        "512 KiB reads",
    ]
    assert all(wall > 0 for _, wall, _ in rows)
    assert list((tmp_path / "io").iterdir()) == []
    text = b"".join(b"%d,user%d@example.com,hello there\n" % (i, i % 97) for i in range(60_000))
    measured = codecs.measure(text)
    assert [name for name, *_ in measured] == ["zstd level 1", "zstd level -1", "lz4 (block)"]
    assert all(0 < stored < 0.5 and c > 0 and d > 0 for _, stored, c, d in measured)


def test_warm_and_evict_put_a_store_in_and_out_of_the_page_cache(tmp_path: Path) -> None:
    """The two restore scenarios start from these (not timed); a read that must not wait
    for the disk (RWF_NOWAIT) tells where the pages are."""
    import os

    from benchmarks.tools.base import evict, warm

    write(tmp_path / "store/data/ab/pack", os.urandom(4 << 20))
    path = tmp_path / "store/data/ab/pack"

    def cached() -> bool:
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.preadv(fd, [bytearray(1 << 20)], 2 << 20, os.RWF_NOWAIT) > 0
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    evict(tmp_path / "store")
    assert not cached()
    warm(tmp_path / "store")
    assert cached()
    evict(tmp_path / "store")
    assert not cached()  # (and back)
    warm(tmp_path / "store")
    assert cached()
