"""Conflict (a lost compare-and-swap on a tag) and the mapping of every error to its exit code.

Racing two `snap tag` processes is not deterministic, so the CAS itself is tested through the
API, and the CLI's error → exit code mapping in process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import snapkit
from snapkit import errors
from snapkit.cli.main import cli
from tests.helpers import write


@pytest.fixture(params=["local", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_url")


def test_a_stale_etag_loses_with_conflict(store_url: str, tmp_path: Path):
    write(tmp_path / "a/x.txt", "one")
    write(tmp_path / "b/x.txt", "two")
    with snapkit.open_store(store_url, create=True, cwd=tmp_path) as store:
        first, second = store.take(tmp_path / "a").id, store.take(tmp_path / "b").id
        refs = store.repo.refs
        refs.set("prod/latest", first)
        seen = refs.get("prod/latest").etag  # two writers read the same tag ...
        refs.set("prod/latest", second, expect=seen)  # ... the first one moves it ...
        with pytest.raises(errors.Conflict, match="prod/latest"):
            refs.set("prod/latest", first, expect=seen)  # ... the second one loses
        assert refs.get("prod/latest").snapshot == second


def _error_classes() -> list[type[errors.SnapError]]:
    found, todo = [], [errors.SnapError]
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo += kind.__subclasses__()
    return found


@pytest.mark.parametrize("kind", _error_classes(), ids=lambda k: k.__name__)
def test_every_error_has_its_exit_code_and_one_line(
    kind: type[errors.SnapError], monkeypatch: pytest.MonkeyPatch
):
    def fail(*_: object, **__: object) -> None:
        raise kind("it went wrong", hint="try this")

    monkeypatch.setattr("snapkit.cli.tags.open_store_from", fail)
    result = CliRunner().invoke(cli, ["tag", "a", "b"])
    assert result.exit_code == kind.exit_code
    assert result.exit_code in errors.EXIT_CODES.values()
    assert result.stderr == "snap: error: it went wrong\nsnap: hint: try this\n"


def test_a_tag_moved_by_someone_else_meanwhile_exits_7(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The real `snap tag` path, with another writer moving the tag between read and CAS."""
    from snapkit.snapshot.refs import RefStore

    write(tmp_path / "a/x.txt", "one")
    store = str(tmp_path / "store")
    with snapkit.open_store(store, create=True, cwd=tmp_path) as s:
        s.take(tmp_path / "a", tags=["v1", "prod/latest"])
    cas = RefStore.set

    def racing_set(self: RefStore, name: str, snapshot_id: str, **_: object):
        etag = self._read(name)[1]  # we read the tag ...
        cas(self, name, snapshot_id, expect=etag)  # ... another writer moves it ...
        return cas(self, name, snapshot_id, expect=etag)  # ... and our swap loses

    monkeypatch.setattr(RefStore, "set", racing_set)
    result = CliRunner().invoke(cli, ["--store", store, "tag", "v1", "prod/latest"])
    assert result.exit_code == errors.EXIT_CODES["conflict"] == 7
    assert result.stderr.startswith("snap: error: tag 'prod/latest' was changed by someone else")


def test_an_os_error_is_mapped_too(monkeypatch: pytest.MonkeyPatch):
    def fail(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied", "/some/file")

    monkeypatch.setattr("snapkit.cli.tags.open_store_from", fail)
    result = CliRunner().invoke(cli, ["tag", "a", "b"])
    assert result.exit_code == errors.EXIT_CODES["access-denied"]
    assert "/some/file" in result.stderr
