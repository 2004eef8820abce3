"""`snap forget`, `snap gc`, `snap unlock`: keeping a shared store tidy and unblocked."""

from __future__ import annotations

import re

import click

from snapkit.cli.common import json_option, open_store_from
from snapkit.cli.output import BarProgress, human_bytes, print_json, short


def register(cli: click.Group) -> None:
    for command in (forget, gc, unlock):
        cli.add_command(command)


def parse_duration(text: str) -> float:
    """'90s', '30m', '1h', '2d' or plain seconds → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 30m, 1h, 2d")
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


@click.command()
@click.argument("snapshots", nargs=-1)
@click.option(
    "--keep-last", type=click.IntRange(min=0), help="Keep the newest N snapshots of each source."
)
@click.option(
    "--keep-tagged",
    is_flag=True,
    help="Keep tagged snapshots (always the case: a tag keeps its snapshot).",
)
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be forgotten.")
@json_option
@click.pass_context
def forget(
    ctx: click.Context,
    snapshots: tuple[str, ...],
    keep_last: int | None,
    keep_tagged: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Drop snapshot records: SNAPSHOT... or all but --keep-last N per source.

    Tagged snapshots are never dropped. The data they alone used is freed by `snap gc`.
    """
    del keep_tagged  # documented behaviour, always on
    with open_store_from(ctx) as store:
        plan = store.forget(snapshots, keep_last=keep_last, dry_run=dry_run)
    if as_json:
        print_json({"forget": list(plan.forget), "keep": list(plan.keep), "dry_run": dry_run})
        return
    verb = "would forget" if dry_run else "forgot"
    for sid in plan.forget:
        click.echo(f"{verb} {short(sid)}")
    click.echo(f"{verb} {len(plan.forget)} snapshots; run `snap gc --yes` to free their data")


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Really delete (without it gc only reports).")
@click.option("--dry-run", is_flag=True, help="Only report (the default).")
@click.option(
    "--grace",
    default="1h",
    show_default=True,
    help="Keep unreferenced objects younger than this (takes in flight).",
)
@json_option
@click.pass_context
def gc(ctx: click.Context, yes: bool, dry_run: bool, grace: str, as_json: bool) -> None:
    """Delete packs and trees that no snapshot reaches; repack partly used packs.

    Runs under the store's exclusive lock; dry run unless --yes.
    """
    from snapkit.snapshot.gc import GcResult

    apply = yes and not dry_run
    with open_store_from(ctx) as store, BarProgress() as bar:
        outcome = store.gc(grace_seconds=parse_duration(grace), dry_run=not apply, progress=bar)
    plan = outcome.plan if isinstance(outcome, GcResult) else outcome
    if as_json:
        extra = {"new_packs": outcome.new_packs} if isinstance(outcome, GcResult) else {}
        print_json({**plan.to_json(), "applied": isinstance(outcome, GcResult), **extra})
        return
    click.echo(
        f"{plan.snapshots} snapshots reach {plan.live_chunks} chunks; "
        f"{len(plan.delete_packs)} packs unused, {len(plan.repack_packs)} partly used, "
        f"{len(plan.orphan_packs)} left by interrupted takes, "
        f"{len(plan.delete_trees)} trees unused; "
        f"{plan.young_packs} younger than {grace} kept"
    )
    if plan.nothing_to_do:
        click.echo("nothing to delete")
    elif isinstance(outcome, GcResult):
        click.echo(
            f"freed {human_bytes(plan.freed_bytes)} (copied {human_bytes(plan.copy_bytes)} "
            f"into {outcome.new_packs} new packs)"
        )
    else:
        click.echo(
            f"would free {human_bytes(plan.freed_bytes)} (copying {human_bytes(plan.copy_bytes)}); "
            "run with --yes to delete"
        )


@click.command()
@click.option(
    "--stale-only", is_flag=True, help="Remove only locks whose process is gone or silent."
)
@json_option
@click.pass_context
def unlock(ctx: click.Context, stale_only: bool, as_json: bool) -> None:
    """Remove store locks left by processes that died (or all locks, carefully)."""
    with open_store_from(ctx) as store:
        removed = store.unlock(stale_only=stale_only)
    if as_json:
        print_json(
            [
                {"id": i.id, "kind": i.kind, "command": i.command, "host": i.host, "pid": i.pid}
                for i in removed
            ]
        )
        return
    for info in removed:
        click.echo(f"removed {info.describe()}")
    click.echo(f"removed {len(removed)} locks")
