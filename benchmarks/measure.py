"""Run one command as a subprocess and measure it: wall time and peak RSS (GNU time)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT = 3_600.0
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")  # the program, not the shell word


class CommandFailed(RuntimeError):
    """A measured command exited non-zero; the message has its output's tail."""


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss: int  # bytes: the largest resident set of the command (and children it waited for)
    stdout: str


def run(
    cmd: Sequence[str | Path],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = COMMAND_TIMEOUT,
) -> Measurement:
    """Run `cmd`, raise if it fails; its peak RSS comes from GNU time when it is installed.

    `wait4`'s own ru_maxrss would count this (large) Python process too: the child's
    high-water mark is taken over from the parent's memory at fork/exec. GNU time forks
    from a tiny process, so its %M is the command's alone.
    """
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        prefix = [GNU_TIME, "-f", "%M", "-o", str(rss_file)] if GNU_TIME else []
        with open(Path(tmp) / "out", "w+b") as out, open(Path(tmp) / "err", "w+b") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [*prefix, *map(str, cmd)],
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
            status, rusage = _wait(proc, timeout)
            seconds = time.perf_counter() - start
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            if status != 0:
                tail = (stdout + err.read().decode(errors="replace"))[-3_000:]
                raise CommandFailed(
                    f"{shlex.join(map(str, cmd))} (in {cwd}) exited {status}:\n{tail}"
                )
        kib = int(rss_file.read_text().split()[-1]) if GNU_TIME else rusage.ru_maxrss
    return Measurement(seconds, kib * 1024, stdout)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, os.struct_rusage]:
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, rusage
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise CommandFailed(f"{proc.args} timed out after {timeout:.0f}s")
        time.sleep(0.005)


def tree_bytes(root: Path) -> int:
    """The total size of the regular files under `root` (apparent sizes, not blocks)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                total += os.stat(path).st_size
    return total
