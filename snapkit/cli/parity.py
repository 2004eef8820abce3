"""`snap parity EXPERIMENT_RUN PRODUCTION_RUN`: the experiment/production gate for CI."""

from __future__ import annotations

from pathlib import Path

import click

from snapkit.cli.common import json_option, open_store_from
from snapkit.cli.output import print_json


def register(cli: click.Group) -> None:
    cli.add_command(parity)


_file = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.argument("experiment_run", metavar="EXPERIMENT_RUN")
@click.argument("production_run", metavar="PRODUCTION_RUN")
@click.option(
    "--step",
    "steps",
    multiple=True,
    metavar="STEP",
    help="Step to compare (repeatable). Default: steps with expectations that read another "
    "step's data, else preprocess.",
)
@click.option("--key", default="id", show_default=True, help="Column joining rows of both runs.")
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Production input rows (keys) the experiment's step is replayed on.",
)
@click.option(
    "--thresholds",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML/JSON file of drift thresholds (linf, js, bins, rtol, atol, columns).",
)
@click.option(
    "--suite",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Expectation suite for the contract (default: the step's, from the pipeline spec).",
)
@json_option
@click.option("--junit", type=_file, help="Write JUnit XML (a test case per check and feature).")
@click.option("--markdown", type=_file, help="Write a Markdown summary (for a CI job summary).")
@click.option("--report", type=_file, help="Write a self-contained HTML report with plots.")
@click.option("-v", "--verbose", is_flag=True, help="Show the replayed step's output (stderr).")
@click.pass_context
def parity(
    ctx: click.Context,
    experiment_run: str,
    production_run: str,
    steps: tuple[str, ...],
    key: str,
    sample: int,
    thresholds: Path | None,
    suite: Path | None,
    as_json: bool,
    junit: Path | None,
    markdown: Path | None,
    report: Path | None,
    verbose: bool,
) -> None:
    """Prove production runs the same preprocessing as the experiment.

    \b
      snap parity EXPERIMENT_RUN PRODUCTION_RUN [--step preprocess] [--report parity.html]

    For each step: the same fingerprint (or exactly what differs: file, param, package),
    the suite passing on both outputs, the experiment's step replayed on a sample of
    production's inputs giving production's features (joined on --key), and each
    feature's drift (L-infinity for categories, Jensen-Shannon for numbers) within
    thresholds. Measured values are always printed. Exit 0 on pass, 16 on fail.
    """
    from snapkit.errors import ParityFailed
    from snapkit.validation import parity_output

    def show(line: str) -> None:
        click.echo(line, err=True)

    with open_store_from(ctx) as store:
        result = store.parity(
            experiment_run,
            production_run,
            step=steps,
            key=key,
            sample=sample,
            thresholds=thresholds,
            suite=suite,
            output=show if verbose else None,
        )
    if junit:
        _write(junit, parity_output.junit(result))
    if markdown:
        _write(markdown, parity_output.markdown(result))
    if report:
        from snapkit.validation.html import render_html

        _write(report, render_html(result))
    if as_json:
        print_json(result.to_json())
    else:
        click.echo(parity_output.text(result), nl=False)
    if not result.passed:
        failed = [c for c in parity_output.checks(result) if not c.passed]
        raise ParityFailed(
            f"parity failed: {len(failed)} check(s): "
            + ", ".join(c.name for c in failed[:6])
            + (" …" if len(failed) > 6 else ""),
            hint="the report above says what was measured" + (f"; see {report}" if report else ""),
        )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
