"""`snap run`, `snap run show`, `snap runs`, `snap rerun`, `snap logs`, `snap lineage`."""

from __future__ import annotations

from typing import Any

import click

from snapkit.cli.common import json_option, open_store_from
from snapkit.cli.output import print_json, short


def register(cli: click.Group) -> None:
    for command in (run, runs, rerun, logs, lineage):
        cli.add_command(command)


class RunGroup(click.Group):
    """`snap run PIPELINE …` runs; `snap run show RUN` shows. A first word that is not a
    subcommand is a pipeline path, handed to the hidden `start` command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group(cls=RunGroup)
def run() -> None:
    """Run a pipeline, snapshotting every step before and after it.

    \b
      snap run PIPELINE [--config NAME] [--from STEP] [--to STEP] [--force] [--json]
      snap run show RUN [--json]

    PIPELINE is a folder with pipeline.yaml, or a dvc.yaml. A step whose fingerprint
    (command, code, params, environment, input content) matches a successful earlier run
    is not run again: its outputs are restored from the store.
    """


class _StartCommand(click.Command):
    """The hidden `start` command shows its usage as what the user types: snap run PIPELINE."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("snap run", "PIPELINE [OPTIONS]")


@run.command("start", hidden=True, cls=_StartCommand)
@click.argument("pipeline", type=click.Path(exists=True, path_type=str))
@click.option("-c", "--config", help="Configuration of the pipeline (e.g. experiment, production).")
@click.option(
    "--from", "from_step", metavar="STEP", help="Start at STEP (earlier outputs must be in place)."
)
@click.option("--to", "to_step", metavar="STEP", help="Stop after STEP.")
@click.option("-f", "--force", is_flag=True, help="Run every selected step, even if cached.")
@click.option(
    "-S",
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a param (dotted key, YAML value), after --config. Repeatable.",
)
@json_option
@click.pass_context
def start(
    ctx: click.Context,
    pipeline: str,
    config: str | None,
    from_step: str | None,
    to_step: str | None,
    force: bool,
    sets: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run PIPELINE."""
    from snapkit.errors import StepFailed

    params = _parse_sets(sets)

    def show(line: str) -> None:
        click.echo(line, err=as_json)

    with open_store_from(ctx, create=True) as store:
        try:
            record = store.run(
                pipeline,
                config=config,
                from_step=from_step,
                to_step=to_step,
                force=force,
                params=params,
                output=show,
            )
        except StepFailed:
            record = store.run_record("latest")
            _summary(record, as_json)
            raise
    _summary(record, as_json)


def _parse_sets(sets: tuple[str, ...]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _summary(record: Any, as_json: bool) -> None:
    if as_json:
        print_json(record.to_json())
        return
    click.echo(f"run {record.id}  {record.pipeline} ({record.config}): {record.status}")
    for s in record.steps:
        detail = f"  from run {s.cached_from}" if s.cache_hit else ""
        click.echo(f"  {s.name:<14} {s.status:<12} {s.seconds:>7.2f}s{detail}")


@run.command("show")
@click.argument("run_id", metavar="RUN")
@json_option
@click.pass_context
def show_run(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show a run: per step status, fingerprint, input/output snapshots, time, cache hit."""
    with open_store_from(ctx) as store:
        record = store.run_record(run_id)
    if as_json:
        print_json({**record.to_json(), "effective_status": record.effective_status()})
        return
    click.echo(f"run       {record.id}")
    click.echo(f"pipeline  {record.pipeline} ({record.spec}), config {record.config}")
    click.echo(f"status    {record.effective_status()}")
    click.echo(
        f"started   {record.started} by {record.user}@{record.host}; "
        f"finished {record.finished or '-'}"
    )
    for s in record.steps:
        click.echo(f"\n  {s.name}: {s.status}" + (f" ({s.message})" if s.message else ""))
        click.echo(f"    cmd          {s.cmd}")
        if s.fingerprint:
            click.echo(f"    fingerprint  {s.fingerprint.get('id', '')[:16]}")
        if s.inputs:
            click.echo(
                f"    inputs       {short(s.inputs)}   "
                f"outputs {short(s.outputs) if s.outputs else '-'}"
            )
        if s.cache_hit:
            click.echo(f"    cache hit    outputs of run {s.cached_from}")
        if s.exit_code is not None:
            click.echo(f"    exit code    {s.exit_code} after {s.seconds:.2f}s")
        for v in s.validations:
            verdict = "passed" if v.get("success") else "FAILED"
            counts = f"{v.get('successful', 0)}/{v.get('evaluated', 0)} expectations"
            click.echo(f"    validation   {v.get('file')}: {v.get('suite')} {verdict} ({counts})")


@click.command()
@json_option
@click.pass_context
def runs(ctx: click.Context, as_json: bool) -> None:
    """List past runs: id, pipeline, config, status, time."""
    with open_store_from(ctx) as store:
        records = store.runs()
    if as_json:
        print_json(
            [
                {
                    "id": r.id,
                    "pipeline": r.pipeline,
                    "config": r.config,
                    "status": r.effective_status(),
                    "started": r.started,
                    "finished": r.finished,
                }
                for r in reversed(records)  # newest first, as in the text listing
            ]
        )
        return
    if not records:
        click.echo("no runs yet: `snap run PIPELINE` makes one")
    for r in reversed(records):
        steps = sum(1 for s in r.steps if s.status in ("succeeded", "cached"))
        click.echo(
            f"{r.id}  {r.pipeline:<12} {r.config:<11} {r.effective_status():<11} "
            f"{r.started.replace('T', ' ')[:19]}  {steps}/{len(r.steps)} steps"
        )


@click.command()
@click.argument("step_ref", metavar="RUN:STEP")
@click.option(
    "--in",
    "workdir",
    type=click.Path(path_type=str),
    help="Folder to rerun in (default: a new temporary one).",
)
@json_option
@click.pass_context
def rerun(ctx: click.Context, step_ref: str, workdir: str | None, as_json: bool) -> None:
    """Run a recorded step again from its recorded inputs and compare its outputs.

    Exit code 0 when every output is byte-identical (reproduced), 13 when not (the files,
    and for tables the columns and rows, that differ are listed).
    """
    from snapkit.errors import NotReproduced

    with open_store_from(ctx) as store:
        result = store.rerun(
            step_ref, workdir=workdir, output=lambda line: click.echo(line, err=True)
        )
    if as_json:
        print_json(result.to_json())
    else:
        verdict = "reproduced" if result.reproduced else "differs"
        click.echo(f"{result.run}:{result.step}: {verdict} (rerun in {result.workdir})")
        if result.exit_code != 0:
            click.echo(f"  the command exited with code {result.exit_code}")
        for d in result.differences:
            click.echo(f"  {d.change:<9} {d.path}{_table_text(d.table)}")
        for note in result.now_differs:
            click.echo(f"  now differs from the record: {note}")
    if not result.reproduced:
        raise NotReproduced(f"{step_ref} did not reproduce its recorded outputs")


def _table_text(t: Any) -> str:
    if t is None:
        return ""
    parts = []
    if t.rows_recorded != t.rows_now:
        parts.append(f"rows {t.rows_recorded} → {t.rows_now}")
    if t.columns_differing:
        parts.append(
            f"columns differing: {', '.join(t.columns_differing)} ({t.rows_differing} rows)"
        )
    if t.columns_added:
        parts.append(f"columns added: {', '.join(t.columns_added)}")
    if t.columns_removed:
        parts.append(f"columns removed: {', '.join(t.columns_removed)}")
    return "  (" + "; ".join(parts) + ")" if parts else ""


@click.command()
@click.argument("step_ref", metavar="RUN:STEP")
@click.pass_context
def logs(ctx: click.Context, step_ref: str) -> None:
    """Print the stored output of a step (secrets masked)."""
    with open_store_from(ctx) as store:
        click.echo(store.step_log(step_ref), nl=False)


@click.command()
@click.argument("target", metavar="SNAP|RUN:STEP")
@json_option
@click.pass_context
def lineage(ctx: click.Context, target: str, as_json: bool) -> None:
    """What made a snapshot or step (upstream) and what used it (downstream)."""
    with open_store_from(ctx) as store:
        graph = store.lineage(target)
    if as_json:
        print_json(graph.to_json())
        return
    click.echo(f"{graph.subject}")
    click.echo("  made by:" if graph.upstream else "  made by: (nothing recorded: taken by hand)")
    for link in graph.upstream:
        click.echo(f"    {link.describe()}")
    click.echo("  used by:" if graph.downstream else "  used by: (nothing recorded)")
    for link in graph.downstream:
        click.echo(f"    {link.describe()}")
