"""Renames that a failed restore can undo: Linux's renameat2(2).

`exchange` swaps two existing paths in one atomic step (RENAME_EXCHANGE): a restore moves a
staged file into place and keeps what stood there under the staged name, so it can put it
back if a later file cannot be moved, and deletes it only once every file is in place.
`rename_new` moves a file to a name nothing stands at (RENAME_NOREPLACE), so something that
appeared there meanwhile is an error rather than silently replaced.

Where renameat2 is missing (not Linux, an old C library) or the file system does not
support these flags (some network and FUSE mounts), both raise `NotSupported`, and the
caller replaces the file for good, as `os.replace` does.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


class NotSupported(Exception):
    """renameat2 with these flags is not available here."""


def _load() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_renameat2 = _load()


def _call(src: str, dst: str, flags: int) -> None:
    if _renameat2 is None:
        raise NotSupported
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        raise NotSupported
    raise OSError(err, os.strerror(err), dst, None, src)  # (errors name the destination)


def exchange(a: str, b: str) -> None:
    """Swap `a` and `b` (both must exist; either may be a file, a link or a folder)."""
    _call(a, b, _RENAME_EXCHANGE)


def rename_new(src: str, dst: str) -> None:
    """Rename `src` to `dst`, which must not exist (FileExistsError if it does)."""
    _call(src, dst, _RENAME_NOREPLACE)
