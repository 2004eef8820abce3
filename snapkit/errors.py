"""The error vocabulary at snapkit's boundary.

Every failure a user can cause or meet is one of these; the CLI maps each kind to its own
exit code (documented in README.md) and prints one line, with a traceback only under --debug.
"""

from __future__ import annotations


class SnapError(Exception):
    """Base of every error snapkit raises on purpose."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class UsageError(SnapError):
    """The command was called wrongly (bad argument combination, bad value)."""

    exit_code = 2


class NotFound(SnapError):
    """A snapshot, tag, path or object that does not exist."""

    exit_code = 3


class StoreUnavailable(SnapError):
    """The store does not exist, cannot be reached, or is not a snapkit store."""

    exit_code = 4


class AccessDenied(SnapError):
    """No credentials, or the credentials / file permissions do not allow the operation."""

    exit_code = 5


class CorruptObject(SnapError):
    """Bytes read from the store do not match their hash (or cannot be decoded)."""

    exit_code = 6

    def __init__(
        self, message: str, *, key: str = "", chunk: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.key = key  # the store object that is bad (e.g. "data/3f/3f9a…")
        self.chunk = chunk  # the chunk found bad, when one was


class Conflict(SnapError):
    """A compare-and-swap lost: somebody else changed the ref (or created the object) first."""

    exit_code = 7


class AlreadyExists(Conflict):
    """A create-only write found the key already there."""


class Refused(SnapError):
    """The operation would lose data or write outside its target, so it was not done."""

    exit_code = 8


class DiskFull(SnapError):
    """The local disk ran out of space; nothing partial was left in place."""

    exit_code = 9


class Locked(SnapError):
    """The store is locked by another process."""

    exit_code = 10


class InvalidPipeline(UsageError):
    """A pipeline spec that cannot run (cycle, unknown dep, missing cmd…): nothing ran."""

    exit_code = 11


class StepFailed(SnapError):
    """A pipeline step exited non-zero (its partial outputs and log were snapshotted)."""

    exit_code = 12


class NotReproduced(SnapError):
    """`snap rerun` made outputs that differ from the recorded ones."""

    exit_code = 13


class ValidationFailed(SnapError):
    """Data did not meet its expectation suite (the report says which expectations)."""

    exit_code = 14


class InvalidSuite(UsageError):
    """An expectation suite that cannot be used (unknown type, bad kwarg, bad JSON)."""

    exit_code = 15


class ParityFailed(SnapError):
    """Production does not run the same preprocessing as the experiment."""

    exit_code = 16


EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "error": SnapError.exit_code,
    "usage": UsageError.exit_code,
    "not-found": NotFound.exit_code,
    "store-unavailable": StoreUnavailable.exit_code,
    "access-denied": AccessDenied.exit_code,
    "corrupt": CorruptObject.exit_code,
    "conflict": Conflict.exit_code,
    "refused": Refused.exit_code,
    "disk-full": DiskFull.exit_code,
    "locked": Locked.exit_code,
    "invalid-pipeline": InvalidPipeline.exit_code,
    "step-failed": StepFailed.exit_code,
    "not-reproduced": NotReproduced.exit_code,
    "validation-failed": ValidationFailed.exit_code,
    "invalid-suite": InvalidSuite.exit_code,
    "parity-failed": ParityFailed.exit_code,
}


def from_os_error(exc: OSError, what: str) -> SnapError:
    """Translate an OSError met while doing `what` into the matching snapkit error."""
    import errno
    import os

    detail = f"{what}: {exc.strerror or exc}"
    if exc.filename is not None:
        detail += f": {os.fsdecode(exc.filename)}"
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return DiskFull(detail, hint="free some space and run the command again")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return AccessDenied(detail, hint="check the permissions of that path")
    if exc.errno == errno.ENOENT:
        return NotFound(detail)
    return SnapError(detail)
