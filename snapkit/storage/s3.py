"""A store in an S3 bucket (AWS or any S3-compatible endpoint), through boto3.

Create-only and compare-and-swap writes use S3 conditional writes (`If-None-Match: *`,
`If-Match: <etag>`), so they are atomic across machines. Credentials, region and endpoint
come from boto3's usual chain (env, profile, instance role; `AWS_ENDPOINT_URL`), plus
`SNAP_S3_ENDPOINT_URL`. The etag is S3's own ETag string, passed back verbatim.

botocore retries throttling, 5xx and dropped connections itself ("standard" mode); what is
still failing after that is raised as TransientError for `RetryingStorage`. snapkit never
creates buckets.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from snapkit.errors import AccessDenied, Conflict, NotFound, SnapError, StoreUnavailable
from snapkit.storage.base import ObjectInfo, Storage, TransientError
from snapkit.storage.keys import check_key, check_prefix

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32)
CREDENTIALS_HINT = (
    "check the AWS credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
    "or the instance role) and that they may access this bucket"
)

_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
}
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
}
_PRECONDITION = {"PreconditionFailed", "412"}
_CONCURRENT = {"ConditionalRequestConflict", "409"}


def make_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """An S3 client configured for snapkit: standard retries, a pool for parallel uploads."""
    endpoint_url = endpoint_url or os.environ.get("SNAP_S3_ENDPOINT_URL") or None
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=CLIENT_CONFIG)


class S3Storage(Storage):
    """Objects are S3 objects named `<prefix>/<key>` in `bucket`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else make_client(endpoint_url, region)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        return self.get_with_etag(key)[0]

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError(f"bad range offset={offset} length={length}")
        if length == 0:
            self.size(key)  # still NotFound for a missing key
            return b""
        byte_range = f"bytes={offset}-{offset + length - 1}"
        with self._errors("read", key):
            try:
                resp = self.client.get_object(
                    Bucket=self.bucket, Key=self._name(key), Range=byte_range
                )
            except ClientError as exc:
                if _code(exc) == "InvalidRange":  # the range starts at or past the end
                    return b""
                raise
            return _read_body(resp["Body"], int(resp.get("ContentLength", length)))

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        with self._errors("read", key):
            resp = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
            return resp["Body"].read(), resp["ETag"]

    def size(self, key: str) -> int:
        with self._errors("read", key):
            resp = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
            return int(resp["ContentLength"])

    def stat(self, key: str) -> ObjectInfo:
        with self._errors("read", key):
            resp = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
            return ObjectInfo(int(resp["ContentLength"]), resp["LastModified"].timestamp())

    def list(self, prefix: str = "") -> Iterator[str]:
        for key, _ in self._listing(prefix):
            yield key

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo]]:
        for key, obj in self._listing(prefix):  # (sizes and times come with the listing)
            yield key, ObjectInfo(int(obj["Size"]), obj["LastModified"].timestamp())

    def _listing(self, prefix: str) -> Iterator[tuple[str, dict]]:
        check_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list", prefix or "/"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for obj in page.get("Contents", ()):
                    yield obj["Key"][len(base) :], obj

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        with self._errors("write", key):
            self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=_body(data))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        with self._errors("write", key):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._name(key), Body=_body(data), IfNoneMatch="*"
                )
            except ClientError as exc:
                if _code(exc) in _PRECONDITION:
                    return False
                if _code(exc) in _CONCURRENT:
                    # Another create of this key is in flight and may still fail, so
                    # "exists" would be a guess; AWS says to retry (RetryingStorage does).
                    raise TransientError(f"concurrent write of {key} in {self.url}") from exc
                raise
        return True

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        with self._errors("write", key):
            try:
                resp = self.client.put_object(
                    Bucket=self.bucket, Key=self._name(key), Body=_body(data), **condition
                )
            except ClientError as exc:
                # If-Match on a missing key answers 404: the precondition failed all the same.
                if _code(exc) not in _PRECONDITION | _CONCURRENT | _MISSING_KEY:
                    raise
                landed = self._landed_on_retry(exc, key, data)
                if landed is None:
                    expected = etag or "no object"
                    raise Conflict(f"{key} in {self.url} changed (expected {expected})") from exc
                return landed
        return resp["ETag"]

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def create(self) -> None:
        """Check that the bucket exists and is reachable; snapkit does not create buckets."""
        with self._errors("open", "/"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) in _MISSING_KEY | {"NoSuchBucket"}:  # HEAD: a bare 404
                    raise _no_bucket(self.bucket) from exc
                raise

    def close(self) -> None:
        self.client.close()

    # -- helpers -------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _landed_on_retry(self, exc: ClientError, key: str, data: bytes) -> str | None:
        """When botocore retried a conditional PUT, the first attempt may have succeeded and
        the retry then failed its own precondition. If the object now holds exactly our
        bytes, that is our write (or an identical one): return its etag instead of Conflict."""
        if not exc.response.get("ResponseMetadata", {}).get("RetryAttempts"):
            return None
        try:
            current, etag = self.get_with_etag(key)
        except NotFound:
            return None
        return etag if current == data else None

    @contextmanager
    def _errors(self, verb: str, key: str) -> Iterator[None]:
        """Translate boto3's exceptions into the snapkit vocabulary."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(exc, verb, key) from exc
        except BotoCoreError as exc:
            raise self._botocore_error(exc, verb, key) from exc

    def _client_error(self, exc: ClientError, verb: str, key: str) -> SnapError:
        code = _code(exc)
        what = f"cannot {verb} {key} in {self.url}"
        if code == "NoSuchBucket":
            return _no_bucket(self.bucket)
        if code in _MISSING_KEY:
            return NotFound(f"no object {key} in {self.url}")
        if code in _DENIED:
            return AccessDenied(f"{what}: {code}", hint=CREDENTIALS_HINT)
        if code in _TRANSIENT:
            return TransientError(f"{what}: {code} (still failing after retries)")
        message = exc.response.get("Error", {}).get("Message", "")
        return SnapError(f"{what}: {code} {message}".rstrip())

    def _botocore_error(self, exc: BotoCoreError, verb: str, key: str) -> SnapError:
        what = f"cannot {verb} {key} in {self.url}"
        if isinstance(exc, _CREDENTIAL_ERRORS):
            return AccessDenied(f"{what}: {exc}", hint=CREDENTIALS_HINT)
        if isinstance(exc, BotoConnectionError):
            return StoreUnavailable(
                f"cannot reach {self.client.meta.endpoint_url} for {self.url}: {exc}",
                hint="check the network and the region, and AWS_ENDPOINT_URL / "
                "SNAP_S3_ENDPOINT_URL if the store is not on AWS",
            )
        if isinstance(exc, HTTPClientError | IncompleteReadError):
            return TransientError(f"{what}: {exc}")
        return SnapError(f"{what}: {exc}")


_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _no_bucket(bucket: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"bucket {bucket} does not exist",
        hint="snapkit does not create buckets: create it (aws s3 mb s3://" + bucket + ") or "
        "check the store URL, the region and AWS_ENDPOINT_URL",
    )


def _read_body(body: Any, expected: int) -> bytes | bytearray:
    """The whole response body, read in 1 MiB pieces into one buffer of its announced size:
    `read()` joined the pieces at the end, briefly holding every range twice (a restore
    reads whole packs with 4 threads). Reading to the end lets botocore check the length."""
    buf = bytearray(expected)
    got = 0
    while piece := body.read(1 << 20):
        buf[got : got + len(piece)] = piece  # (grows the buffer if more than announced came)
        got += len(piece)
    del buf[got:]
    return buf


class _ViewReader(io.RawIOBase):
    """A seekable file over a memoryview, so a pack's buffer is sent without a copy.

    botocore takes bytes, bytearray or a file for `Body` (not a memoryview); it reads a file
    to checksum and sign it, then seeks back to send it (and again on a retry).
    """

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view.cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self._view) - self._pos)
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _body(data: bytes | bytearray | memoryview) -> bytes | bytearray | _ViewReader:
    return _ViewReader(data) if isinstance(data, memoryview) else data
