"""`snap validate` and `snap suite init`: expectation suites as a CI gate."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click

from snapkit.cli.common import json_option, open_store_from
from snapkit.cli.output import print_json
from snapkit.validation import DEFAULT_BATCH_ROWS, ENGINES

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def register(cli: click.Group) -> None:
    cli.add_command(validate)
    cli.add_command(suite)


@click.command()
@click.argument("target")
@click.option(
    "-s",
    "--suite",
    "suite_path",
    required=True,
    metavar="FILE",
    help="Expectation suite (Great Expectations 1.x JSON), e.g. expectations/spam_raw.json.",
)
@click.option("--path", "path_glob", metavar="GLOB", help="Only table files matching GLOB.")
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_ROWS,
    show_default=True,
    help="Rows validated at a time; aggregates are still computed over all rows.",
)
@click.option(
    "--memory-limit",
    metavar="SIZE",
    help="Make batches small enough for about SIZE of memory (e.g. 512M, 2G).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="pandas",
    show_default=True,
    help="pandas: in batches on this machine; spark: GX's Spark data source (pyspark).",
)
@click.option(
    "--junit", metavar="FILE", help="Write a JUnit XML report (one test per expectation)."
)
@click.option("--markdown", metavar="FILE", help="Write a Markdown report (a CI job summary).")
@json_option
@click.pass_context
def validate(
    ctx: click.Context,
    target: str,
    suite_path: str,
    path_glob: str | None,
    batch_rows: int,
    memory_limit: str | None,
    engine: str,
    junit: str | None,
    markdown: str | None,
    as_json: bool,
) -> None:
    """Check TARGET against an expectation suite: exit 0 if it passes, 14 if not.

    \b
    TARGET is a table file or folder (Parquet, CSV, TSV, JSON lines), a snapshot
    SNAP[:PATH] (tag, id or prefix; PATH inside it), or RUN:STEP[:PATH] (the outputs of
    that step of a run). Stored data is read straight from the store, not restored.
    \b
      snap validate data/features --suite expectations/spam_features.json
      snap validate raw-v1:emails.parquet --suite expectations/spam_raw.json --junit out.xml
      snap validate latest:preprocess --suite expectations/spam_features.json --markdown s.md
    """
    from snapkit.errors import ValidationFailed
    from snapkit.validation.reports import junit_xml, text_report
    from snapkit.validation.reports import markdown as markdown_report

    options: dict[str, Any] = {
        "path": path_glob,
        "batch_rows": batch_rows,
        "memory_limit": parse_size(memory_limit) if memory_limit else None,
        "engine": engine,
    }
    if os.path.exists(target):  # a local file or folder: no store needed
        from snapkit.validation import validate as validate_local

        result = validate_local(target, suite_path, **options)
    else:
        with _store_for(ctx, target) as store:
            result = store.validate(target, suite_path, **options)
    if junit:
        _write(junit, junit_xml(result))
    if markdown:
        _write(markdown, markdown_report(result))
    if as_json:
        print_json(result.to_json())
    else:
        click.echo(text_report(result), nl=False)
    if not result.success:
        raise ValidationFailed(
            result.summary(),
            hint="the report lists observed values and samples of unexpected values",
        )


@click.group()
def suite() -> None:
    """Expectation suites: `snap suite init DATA -o FILE` profiles data into a starter suite."""


@suite.command("init")
@click.argument("data")
@click.option("-o", "--output", metavar="FILE", help="Where to write the suite (default: stdout).")
@click.option("-n", "--name", help="Suite name (default: from the file name).")
@click.option("--path", "path_glob", metavar="GLOB", help="Only table files matching GLOB.")
@click.option("-f", "--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.pass_context
def init(
    ctx: click.Context,
    data: str,
    output: str | None,
    name: str | None,
    path_glob: str | None,
    force: bool,
) -> None:
    """Profile DATA (a table file or folder, SNAP[:PATH], RUN:STEP[:PATH]) into a starter
    suite that passes on it: columns, nulls, ranges, value sets, uniqueness, row count."""
    from snapkit.errors import Refused

    if output and os.path.exists(output) and not force:
        raise Refused(f"{output} exists", hint="use --force to overwrite it")
    if os.path.exists(data):
        from snapkit.validation import init_suite

        doc = init_suite(data, name=name, path=path_glob)
    else:
        with _store_for(ctx, data) as store:
            doc = store.suite_init(data, name=name, path=path_glob)
    text = json.dumps(doc, indent=2) + "\n"
    if not output:
        click.echo(text, nl=False)
        return
    _write(output, text)
    rows = doc["meta"]["rows"]
    click.echo(f"wrote {output}: {len(doc['expectations'])} expectations from {rows:,} rows")


def _store_for(ctx: click.Context, target: str) -> Any:
    """The store, to find TARGET in; without one, TARGET is a missing file or folder."""
    from snapkit.errors import NotFound, StoreUnavailable

    try:
        return open_store_from(ctx)
    except StoreUnavailable as exc:
        raise NotFound(
            f"no file or folder {target}, and no store to find a snapshot or run in",
            hint=str(exc),
        ) from exc


def parse_size(text: str) -> int:
    """'512M', '2G', '1.5GiB', '1000000' → bytes (K, M, G, T are powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a size like 512M or 2G", param_hint="--memory-limit"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def _write(path: str, text: str) -> None:
    target = Path(path)
    if target.parent != Path():
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
