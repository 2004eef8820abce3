"""The `snap` process's own environment settings, kept from the programs it starts.

OpenBLAS (loaded with numpy, which pyarrow loads) starts a thread per core and keeps them
spinning for a while in case work comes. snap does no linear algebra: in a restore of
2 GB those threads cost ≈0.2 s of CPU, a tenth of its CPU on 2 cores (RESULTS.md,
session 12), and a machine with more cores has more of them. The `snap` command limits
them to one; the steps of a pipeline it runs get the environment as the user had it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# What `limit_blas_threads` set in this process (a variable the user had set is left as is).
_OURS: dict[str, str] = {}


def limit_blas_threads() -> None:
    """For the `snap` command only, before anything loads numpy (not for library users,
    whose numpy may well do linear algebra)."""
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        os.environ["OPENBLAS_NUM_THREADS"] = _OURS["OPENBLAS_NUM_THREADS"] = "1"


def for_children(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the settings this process made for itself."""
    return {k: v for k, v in environ.items() if _OURS.get(k) != v}
