"""Shared pytest fixtures. One section per concern; keep each small."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest

# -- the local cache: never the user's ------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """snapkit's local cache (SNAP_CACHE_DIR) for tests that set none of their own: one
    folder for the session, not the user's ~/.cache/snapkit. Session-scoped so that module
    fixtures, which run before any test's own fixtures, use it too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNAP_CACHE_DIR", str(tmp_path_factory.mktemp("snap-cache")))
        yield


# -- S3: one moto server for the session, one fresh bucket per test ----------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3 endpoint (moto's server on 127.0.0.1, a free port); yields its URL.

    Dummy credentials are set only where none are configured: moto accepts any, and
    they keep boto3 from looking further (profiles, instance metadata).
    """
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_url(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`s3://<new bucket>/some/prefix` on the moto server.

    AWS_ENDPOINT_URL points at the server for the duration of the test, so `open_storage`,
    plain boto3 clients and subprocesses all reach it with no extra configuration.
    """
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    bucket = f"snapkit-test-{uuid.uuid4().hex[:20]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    client.close()
    return f"s3://{bucket}/some/prefix"
