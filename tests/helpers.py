"""Small helpers shared by tests: build folders, compare them exactly."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path


def write(path: Path, data: bytes | str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(path, mode)
    return path


def random_bytes(n: int, seed: int = 0) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


def snapshot_of(root: Path) -> dict[str, tuple]:
    """path → (kind, content or link target, mode, mtime_ns for files) for a whole folder."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            s = os.lstat(p)
            if stat.S_ISLNK(s.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(s.st_mode):
                out[rel] = ("dir", s.st_mode & 0o7777)
            else:
                out[rel] = ("file", p.read_bytes(), s.st_mode & 0o7777, s.st_mtime_ns)
    return out


def make_dataset(root: Path) -> Path:
    """A folder with the cases restore must get exactly right."""
    write(root / "a.txt", "hello\n")
    write(root / "empty", b"")
    write(root / "ünïcødé ✓.txt", "unicode name\n")
    write(root / "nested/deeper/still/x.csv", "id,text,label\n1,hi,0\n2,yo,1\n")
    write(root / "nested/big.bin", random_bytes(6 << 20, seed=1))  # several chunks
    write(root / "run.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    (root / "emptydir").mkdir()
    os.symlink("a.txt", root / "link-to-a")
    os.utime(root / "a.txt", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    return root


REPO = Path(__file__).resolve().parents[1]


def spam_project(root: Path) -> Path:
    """A project at `root` (a git marker, the expectation suites and pipelines/spam without
    any generated data) in which the spam pipeline can run; returns `root`."""
    (root / ".git").mkdir(parents=True)
    shutil.copytree(REPO / "expectations", root / "expectations")  # the steps' suites
    shutil.copytree(
        REPO / "pipelines/spam",
        root / "pipelines/spam",
        ignore=shutil.ignore_patterns("data", "model", "metrics.json"),
    )
    return root


def run_python(code: str, cache: Path) -> str:
    """What `code` prints, run in a fresh interpreter (so its imports are its own), with
    `cache` as snapkit's cache folder."""
    env = {**os.environ, "SNAP_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()
