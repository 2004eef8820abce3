"""A local S3 endpoint for the push/pull scenarios: moto's server on 127.0.0.1."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.tools.base import S3_CREDENTIALS


@contextmanager
def moto_server() -> Iterator[str]:
    """Start `ThreadedMotoServer` on a free port of 127.0.0.1; yield its URL; stop it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_credentials())
    client.create_bucket(Bucket=bucket)
    client.close()


def reset(endpoint: str) -> None:
    """Forget every bucket and object (moto keeps them in memory)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }
