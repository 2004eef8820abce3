from __future__ import annotations

import pytest

import snapkit


@pytest.fixture
def store(tmp_path):
    """A fresh local store (its own cache folder) for one test."""
    s = snapkit.open_store(str(tmp_path / "store"), create=True, cwd=tmp_path)
    yield s
    s.close()
