"""A store on S3 (moto's server): round trip, and the ways S3 fails."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from tests.cli.conftest import assert_fails, assert_ok, make_project, run_snap
from tests.helpers import make_dataset, snapshot_of


def test_take_then_restore_elsewhere_with_a_fresh_cache(s3_url: str, tmp_path: Path):
    root = make_project(tmp_path / "proj")
    src = make_dataset(root / "data/raw")
    assert_ok(run_snap("--store", s3_url, "take", "data/raw", "--tag", "raw-v1", cwd=root))
    assert not (root / ".snap").exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fresh = {"SNAP_CACHE_DIR": str(tmp_path / "fresh-cache")}
    assert_ok(run_snap("--store", s3_url, "restore", "raw-v1", "out", cwd=elsewhere, env=fresh))
    assert snapshot_of(elsewhere / "out") == snapshot_of(src)


@pytest.mark.parametrize("command", [("log",), ("take", "data/raw")])
def test_a_bucket_that_does_not_exist(s3_server: str, tmp_path: Path, command: tuple[str, ...]):
    root = make_project(tmp_path / "proj")
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:12]}"
    result = run_snap(
        "--store", f"s3://{bucket}/p", *command, cwd=root, env={"AWS_ENDPOINT_URL": s3_server}
    )
    assert_fails(result, 4, bucket)


def test_an_unreachable_endpoint_fails_fast(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    started = time.monotonic()
    result = run_snap("--store", "s3://bucket/p", "log", cwd=root, env=env)
    took = time.monotonic() - started
    assert_fails(result, 4, "http://127.0.0.1:1")
    assert took < 30, f"giving up on an unreachable endpoint took {took:.1f}s"


def test_no_credentials_is_access_denied(s3_url: str, tmp_path: Path):
    root = make_project(tmp_path / "proj")
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AWS_")}
    env |= {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "HOME": str(empty_home),
        "AWS_CONFIG_FILE": str(empty_home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty_home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = run_snap("--store", s3_url, "take", "data/raw", cwd=root, env=env)
    assert_fails(result, 5, "credentials")
