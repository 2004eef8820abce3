"""What every command needs: the store named by the global options."""

from __future__ import annotations

import click


def open_store_from(ctx: click.Context, *, create: bool = False, compression: str | None = None):
    from snapkit.api import open_store

    return open_store(
        ctx.obj.get("store"),
        create=create,
        lock_wait=ctx.obj.get("lock_wait", 0.0),
        compression=compression,
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
