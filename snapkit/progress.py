"""The progress callback that long operations report to. The CLI draws it; the API is quiet."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    # total: the amount to expect, or None when it is not known ahead (a streaming take)
    def start(self, label: str, total: int | None) -> None: ...
    def advance(self, amount: int) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    """Reports nothing (the default for the Python API and piped output)."""

    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass
