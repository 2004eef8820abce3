"""`snap init`, `take`, `restore`, `log`, `show`, `ls`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from snapkit.cli.common import json_option, open_store_from
from snapkit.cli.output import BarProgress, human_bytes, print_json, short

if TYPE_CHECKING:
    from snapkit.api import Store


def register(cli: click.Group) -> None:
    for command in (init, take, restore, log, show, ls, check):
        cli.add_command(command)


@click.command()
@click.option(
    "--compression",
    # The names of objects.packs.COMPRESSIONS, spelled out: importing it here would cost
    # every command ≈40 ms of start-up (a test keeps the two equal).
    type=click.Choice(["auto", "lz4", "zstd", "none"]),
    default=None,
    help="How chunks are compressed, chosen once per store. auto (the default) "
    "compresses with lz4 on S3 and other remote stores, and in a local folder only "
    "while the disk is slower than the cores, so that compressing does not slow a take "
    "down; lz4 "
    "always compresses (the smallest fast store); zstd stores text ≈35 % smaller for "
    "≈1.6× the CPU; none stores everything as it is. Already-compressed data (Parquet, "
    "images) is stored as it is either way.",
)
@json_option
@click.pass_context
def init(ctx: click.Context, compression: str | None, as_json: bool) -> None:
    """Create the store (a no-op if it exists). `snap take` also creates it."""
    with open_store_from(ctx, create=True, compression=compression) as store:
        if as_json:
            print_json({"store": store.url, "compression": store.compression})
        else:
            click.echo(f"store ready at {store.url} (compression: {store.compression})")


@click.command()
@click.argument("path", type=click.Path(path_type=str))
@click.option("-m", "--message", default="", help="What this snapshot is.")
@click.option("-t", "--tag", "tags", multiple=True, help="Tag to point at it (repeatable).")
@click.option(
    "-e",
    "--exclude",
    multiple=True,
    metavar="PATTERN",
    help="Gitignore-style pattern to leave out (repeatable); .snapignore is read too.",
)
@json_option
@click.pass_context
def take(
    ctx: click.Context,
    path: str,
    message: str,
    tags: tuple[str, ...],
    exclude: tuple[str, ...],
    as_json: bool,
) -> None:
    """Snapshot a folder (or a single file) into the store."""
    with open_store_from(ctx, create=True) as store, BarProgress() as progress:
        result = store.take(path, message=message, tags=tags, exclude=exclude, progress=progress)
    snap, s = result.snapshot, result.snapshot.summary
    if as_json:
        print_json({"id": result.id, "reused_files": result.reused_files, **snap.to_json()})
        return
    tag_text = f"  tags: {', '.join(snap.tags)}" if snap.tags else ""
    click.echo(f"snapshot {short(result.id)}  {snap.source}{tag_text}")
    click.echo(
        f"  {s.files} files, {s.dirs} folders, {human_bytes(s.bytes)}; "
        f"new: {human_bytes(s.new_bytes)} ({human_bytes(s.new_stored_bytes)} stored); "
        f"{s.seconds:.2f}s"
    )


@click.command()
@click.argument("snapshot")
@click.argument("target", required=False, type=click.Path(path_type=str))
@click.option(
    "-p",
    "--path",
    "paths",
    multiple=True,
    metavar="GLOB",
    help="Restore only matching paths (repeatable).",
)
@click.option("-n", "--dry-run", is_flag=True, help="Print the plan, change nothing.")
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Overwrite local changes after taking a safety snapshot of them.",
)
@click.option(
    "--delete", is_flag=True, help="Also remove files in TARGET that are not in the snapshot."
)
@click.option(
    "--inputs/--outputs",
    "inputs",
    default=True,
    help="For RUN:STEP: what the step saw (default) or what it made.",
)
@json_option
@click.pass_context
def restore(
    ctx: click.Context,
    snapshot: str,
    target: str | None,
    paths: tuple[str, ...],
    dry_run: bool,
    force: bool,
    delete: bool,
    inputs: bool,
    as_json: bool,
) -> None:
    """Bring back SNAPSHOT (tag, id or id prefix) into TARGET (default: where it was taken).

    SNAPSHOT may also be RUN:STEP (e.g. latest:train): the step's inputs, or with
    --outputs its outputs, exactly as they were, into a new folder by default.

    Only files that differ are written; each chunk is verified before anything is written,
    and files are renamed into place only when all of them are ready. Local changes that
    are in no snapshot make restore refuse, unless --force (which snapshots them first).
    """
    options = {"paths": paths, "dry_run": dry_run, "force": force, "delete": delete}
    with open_store_from(ctx) as store, BarProgress() as progress:
        if ":" in snapshot:  # tags and snapshot ids never contain ':'
            outcome = store.restore_step(
                snapshot, target, outputs=not inputs, progress=progress, **options
            )
        else:
            outcome = store.restore(snapshot, target, progress=progress, **options)
    plan = outcome.plan
    if as_json:
        print_json(
            {**plan.to_json(), "dry_run": dry_run, "safety_snapshot": outcome.safety_snapshot}
        )
        return
    if outcome.safety_snapshot:
        click.echo(
            f"safety snapshot {short(outcome.safety_snapshot)} holds the local changes; to go back:"
        )
        click.echo(f"  {_go_back_command(store, outcome.safety_snapshot, plan.target)}")
    verb = "would write" if dry_run else "wrote"
    click.echo(
        f"{verb} {len(plan.write)} files ({human_bytes(plan.bytes_to_write)}) to {plan.target}; "
        f"{plan.unchanged} unchanged, {len(plan.touch)} metadata only, {len(plan.delete)} deleted"
    )
    if plan.leftovers:
        shown = ", ".join(plan.leftovers[:3]) + (", …" if len(plan.leftovers) > 3 else "")
        click.echo(
            f"note: {len(plan.leftovers)} hidden .snaptmp- entries were left by an interrupted "
            f"restore: {shown}. They may hold what stood there before it: check them, then "
            "remove them",
            err=True,
        )
    if dry_run:
        for e in plan.write:
            click.echo(f"  write  {e.path}")
        for p in plan.delete:
            click.echo(f"  delete {p}")
        for c in plan.unsaved:
            click.echo(f"  local change not in any snapshot: {c.path} ({c.reason})")


def _go_back_command(store: Store, snapshot_id: str, target: Path) -> str:
    """A command to paste into a shell; it names the store unless it is the project's .snap."""
    parts = ["snap"]
    if store.location.origin != "default":
        parts += ["--store", store.url]
    parts += ["restore", short(snapshot_id), str(target)]
    return shlex.join(parts)


@click.command()
@json_option
@click.pass_context
def log(ctx: click.Context, as_json: bool) -> None:
    """List snapshots, newest first."""
    with open_store_from(ctx) as store:
        infos = store.log()
    if as_json:
        # "tags" is the record's own (tags given at take time); tags move, so the ones
        # pointing at it now are "current_tags", as in `snap show --json`
        print_json(
            [{"id": i.id, "current_tags": list(i.tags), **i.snapshot.to_json()} for i in infos]
        )
        return
    if not infos:
        click.echo("no snapshots yet: `snap take PATH` makes one")
    for i in infos:
        s = i.snapshot
        tags = f" [{', '.join(i.tags)}]" if i.tags else ""
        msg = f"  {s.message}" if s.message else ""
        click.echo(
            f"{short(i.id)}  {s.time[:19].replace('T', ' ')}  {s.source}  "
            f"{s.summary.files} files {human_bytes(s.summary.bytes)}{tags}{msg}"
        )


@click.command()
@click.argument("snapshot")
@json_option
@click.pass_context
def show(ctx: click.Context, snapshot: str, as_json: bool) -> None:
    """Show one snapshot's record: source, time, who, summary, parent, tags."""
    with open_store_from(ctx) as store:
        info = store.show(snapshot)
    s = info.snapshot
    if as_json:
        print_json({"id": info.id, "current_tags": list(info.tags), **s.to_json()})
        return
    rows = [
        ("snapshot", info.id),
        ("source", f"{s.source} ({s.root_kind})"),
        ("time", s.time),
        ("by", f"{s.user}@{s.host}"),
        ("message", s.message or "-"),
        ("tags", ", ".join(info.tags) or "-"),
        ("parent", s.parent or "-"),
        ("tree", s.tree),
        (
            "files",
            f"{s.summary.files} files, {s.summary.dirs} folders, {human_bytes(s.summary.bytes)}",
        ),
        (
            "new data",
            f"{human_bytes(s.summary.new_bytes)} "
            f"({human_bytes(s.summary.new_stored_bytes)} stored)",
        ),
        ("tables", str(s.summary.tables)),
        ("took", f"{s.summary.seconds:.2f}s"),
    ]
    for k, v in rows:
        click.echo(f"{k:>9}  {v}")


@click.command()
@click.argument("snapshot")
@click.argument("path", required=False)
@json_option
@click.pass_context
def ls(ctx: click.Context, snapshot: str, path: str | None, as_json: bool) -> None:
    """List the files of a snapshot (under PATH if given), with table facts for tables."""
    with open_store_from(ctx) as store:
        entries = store.ls(snapshot, path)
    if as_json:
        print_json([_entry_json(e) for e in entries])
        return
    for e in entries:
        if e.kind == "dir":
            click.echo(f"{'dir':>10}  {e.path}/")
        elif e.kind == "symlink":
            click.echo(f"{'link':>10}  {e.path} -> {e.link_target}")
        else:
            facts = f"  ({e.table.rows} rows x {len(e.table.columns)} cols)" if e.table else ""
            click.echo(f"{human_bytes(e.size):>10}  {e.path}{facts}")


def _entry_json(e) -> dict[str, object]:
    return {
        "path": e.path,
        "kind": e.kind,
        "size": e.size,
        "mode": oct(e.mode),
        "mtime_ns": e.mtime_ns,
        "hash": e.hash,
        "chunks": len(e.chunks),
        "link_target": e.link_target or None,
        "table": e.table.to_json() if e.table else None,
    }


@click.command()
@click.option("--read-data", is_flag=True, help="Also read every pack and verify every chunk.")
@click.option(
    "--read-data-subset",
    metavar="PERCENT",
    help="Read a random share of the packs, e.g. 10% (spread a full read over runs).",
)
@json_option
@click.pass_context
def check(ctx: click.Context, read_data: bool, read_data_subset: str | None, as_json: bool) -> None:
    """Verify the store: refs, snapshots, trees, pack index and packs; report every problem."""
    from snapkit.errors import CorruptObject

    fraction = _percent(read_data_subset) if read_data_subset else 0.0
    with open_store_from(ctx) as store, BarProgress() as progress:
        report = store.check(read_data=read_data, read_fraction=fraction, progress=progress)
    if as_json:
        print_json(report.to_json())
    else:
        for p in report.problems:
            where = (
                f" (snapshots: {', '.join(short(s) for s in p.snapshots)})" if p.snapshots else ""
            )
            files = f" files: {', '.join(p.files[:10])}" if p.files else ""
            click.echo(f"{p.kind}: {p.message}{where}{files}")
        click.echo(
            f"checked {report.snapshots} snapshots, {report.packs} packs, {report.chunks} chunks"
            + (f", read {human_bytes(report.read_bytes)}" if read_data or fraction else "")
            + (": no problems" if report.ok else f": {len(report.problems)} problems")
        )
    if not report.ok:
        raise CorruptObject(f"store check found {len(report.problems)} problems")


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise click.BadParameter(
            f"{text!r}: give a share like 10% or 0.1", param_hint="--read-data-subset"
        )
    return value
