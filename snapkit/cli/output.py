"""Printing for the CLI: human sizes, JSON, and a progress bar only on a terminal."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import click


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def short(snapshot_id: str) -> str:
    return snapshot_id[:12]


class BarProgress:
    """A rich progress bar on stderr; silent when stderr is not a terminal (piped, CI).

    Use it as a context manager, so that the bar is gone before an error is printed.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._task: Any = None
        self._pending: tuple[str, int | None] | None = None
        self._lock = threading.Lock()

    def start(self, label: str, total: int | None) -> None:
        """Show a bar for `total` bytes; with None (not known ahead), a bar of bytes done
        and speed, drawn at the first advance (work that turns out empty shows nothing)."""
        if not self.enabled or (total is not None and total <= 0):
            return
        self._pending = (label, total)
        if total is not None:
            self._draw()

    def _draw(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        label, total = self._pending  # type: ignore[misc]
        self._pending = None
        self._bar = Progress(
            "[bold]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(label, total=total)

    def advance(self, amount: int) -> None:
        if self._pending is not None:
            with self._lock:  # advance comes from reading threads: draw once
                if self._pending is not None:
                    self._draw()
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def finish(self) -> None:
        self._pending = None
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> BarProgress:
        return self

    def __exit__(self, *_: object) -> None:
        """Stop the bar on failure too: else the error lands on the bar's line and the
        terminal's cursor stays hidden."""
        self.finish()
