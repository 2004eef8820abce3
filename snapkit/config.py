"""Where the store is: --store, then SNAP_STORE, then [tool.snapkit] in pyproject.toml,
then `.snap/` at the project root (found like git finds `.git`)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from snapkit.errors import UsageError

STORE_DIR = ".snap"
ROOT_MARKERS = (STORE_DIR, ".git", "pyproject.toml")


@dataclass(frozen=True)
class StoreLocation:
    url: str
    origin: str  # "--store", "SNAP_STORE", "pyproject.toml" or "default"
    project_root: Path


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding `.snap`, else `.git` or pyproject.toml."""
    start = start.resolve()
    for marker in ROOT_MARKERS:
        for folder in (start, *start.parents):
            if (folder / marker).exists():
                return folder
    return start


def _pyproject_store(root: Path) -> str | None:
    path = root / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    store = data.get("tool", {}).get("snapkit", {}).get("store")
    if store is None:
        return None
    if not isinstance(store, str) or not store:
        raise UsageError(f"[tool.snapkit] store in {path} must be a non-empty string")
    return _absolute(store, root)


def _absolute(url: str, base: Path) -> str:
    if "://" in url:
        return url
    return str((base / os.path.expanduser(url)).resolve())


def locate_store(explicit: str | None = None, cwd: Path | None = None) -> StoreLocation:
    cwd = cwd or Path.cwd()
    root = find_project_root(cwd)
    if explicit:
        return StoreLocation(_absolute(explicit, cwd), "--store", root)
    env = os.environ.get("SNAP_STORE")
    if env:
        return StoreLocation(_absolute(env, cwd), "SNAP_STORE", root)
    from_file = _pyproject_store(root)
    if from_file:
        return StoreLocation(from_file, "pyproject.toml", root)
    return StoreLocation(str(root / STORE_DIR), "default", root)
