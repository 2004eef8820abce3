from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import snapkit
from snapkit.api import Store


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own object cache, never the developer's."""
    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh local store."""
    s = snapkit.open_store(str(tmp_path / "store"), create=True, cwd=tmp_path)
    yield s
    s.close()
