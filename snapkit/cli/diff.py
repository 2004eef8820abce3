"""`snap diff`: what changed between two snapshots, down to rows and columns of tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from snapkit.cli.common import json_option, open_store_from
from snapkit.cli.output import human_bytes, print_json, short

if TYPE_CHECKING:
    from snapkit.snapshot.diff import FileChange, TableChange, TreeDiff
    from snapkit.snapshot.model import FileEntry

LETTERS = {"added": "A", "removed": "D", "modified": "M", "mode-changed": "M", "type-changed": "T"}


def register(cli: click.Group) -> None:
    cli.add_command(diff)


@click.command()
@click.argument("old")
@click.argument("new")
@click.option(
    "--rows",
    is_flag=True,
    help="Also read both versions of each modified Parquet/CSV table from the store, in "
    "batches, and count the rows added and removed (over the columns both versions have).",
)
@click.option(
    "--stat", is_flag=True, help="One line per changed path with its size (and row) change."
)
@json_option
@click.pass_context
def diff(ctx: click.Context, old: str, new: str, rows: bool, stat: bool, as_json: bool) -> None:
    """Show what changed from snapshot OLD to snapshot NEW (tags, ids or id prefixes).

    Files are compared by content hash (modification times are ignored). For Parquet and
    CSV tables, the row counts, columns and column types recorded at take time are
    compared too, without reading any data. One line per changed path, then a summary:

    \b
      A  added     D  removed     T  type changed (file / folder / link)
      M  modified (content, or mode only)
      M  emails.parquet  +1,000 rows (100,000 → 101,000), +column n_links,
                         type of label: int64 → string

    --rows reads both versions of each modified table from the store, streamed in batches
    (never a whole file in memory), and counts the rows only in OLD (removed) and only in
    NEW (added), over the columns both have; a column whose type changed is compared by
    its text. The exit code is 0 whether or not there are differences.

    \b
      snap diff raw-v1 raw-v2
      snap diff raw-v1 raw-v2 --rows --json
    """
    with open_store_from(ctx) as store:
        result = store.diff(old, new, rows=rows)
    if as_json:
        print_json(result.to_json())
        return
    lines = _stat_lines(result) if stat else [_change_line(c) for c in result.changes]
    for line in lines:
        click.echo(line)
    click.echo(_summary(result))


# -- one line per change ----------------------------------------------------------------


def _change_line(c: FileChange) -> str:
    line = f"{LETTERS[c.status]}  {_display_path(c)}"
    details = ", ".join(_details(c))
    return f"{line}  {details}" if details else line


def _display_path(c: FileChange) -> str:
    entry = c.new or c.old
    return f"{c.path}/" if entry is not None and entry.kind == "dir" else c.path


def _details(c: FileChange) -> list[str]:
    if c.status == "added":
        return _describe(c.new)
    if c.status == "removed":
        return []
    if c.status == "type-changed":
        return [f"{_kind(c.old)} → {_kind(c.new)}"]
    assert c.old is not None and c.new is not None
    out = []
    if c.status == "modified":
        out += _table_details(c.table) if c.table else _content_details(c.old, c.new)
    if c.mode_changed:
        out.append(f"mode {c.old.mode:o} → {c.new.mode:o}")
    return out


def _describe(e: FileEntry | None) -> list[str]:
    if e is None or e.kind == "dir":
        return []
    if e.kind == "symlink":
        return [f"-> {e.link_target}"]
    out = [human_bytes(e.size)]
    if e.table:
        out.append(f"{_count(e.table.rows, 'row')} x {_count(len(e.table.columns), 'column')}")
    return out


def _kind(e: FileEntry | None) -> str:
    return {"dir": "folder", "symlink": "link"}.get(e.kind, e.kind) if e else "-"


def _content_details(old: FileEntry, new: FileEntry) -> list[str]:
    if new.kind == "symlink":
        return [f"link target {old.link_target} → {new.link_target}"]
    delta = new.size - old.size
    return [f"{human_bytes(old.size)} → {human_bytes(new.size)} ({_signed_bytes(delta)})"]


def _table_details(t: TableChange) -> list[str]:
    out = []
    if t.rows_delta:
        delta = f"{t.rows_delta:+,} {_plural(t.rows_delta, 'row')}"
        out.append(f"{delta} ({t.rows_before:,} → {t.rows_after:,})")
    out += [f"+column {c}" for c in t.columns_added]
    out += [f"-column {c}" for c in t.columns_removed]
    out += [f"type of {x.column}: {x.old} → {x.new}" for x in t.type_changes]
    if t.columns_reordered:
        out.append("columns reordered")
    if t.rows is not None:
        r = t.rows
        out.append(f"rows: +{r.added:,} -{r.removed:,} ({r.unchanged:,} unchanged)")
    if not out:
        out.append("content changed, same rows and columns")
    return out


# -- --stat and the summary -------------------------------------------------------------


def _stat_lines(result: TreeDiff) -> list[str]:
    if not result.changes:
        return []
    width = max(len(_display_path(c)) for c in result.changes)
    lines = []
    for c in result.changes:
        rows = ""
        if c.table is not None:
            rows = f"  {c.table.rows_delta:+,} {_plural(c.table.rows_delta, 'row')}"
            if c.table.rows is not None:
                rows += f" (+{c.table.rows.added:,} -{c.table.rows.removed:,})"
        size = _signed_bytes(c.size_delta) if c.size_delta else "0 B"
        lines.append(f" {LETTERS[c.status]} {_display_path(c):<{width}} | {size:>12}{rows}")
    return lines


def _summary(result: TreeDiff) -> str:
    head = f"{short(result.old_snapshot)} → {short(result.new_snapshot)}: "
    if not result.changes:
        return head + f"no differences ({result.unchanged:,} paths the same)"
    counts = result.counts()
    parts = [f"{counts[k]:,} {k.replace('-', ' ')}" for k in LETTERS if counts[k]]
    return (
        head
        + ", ".join(parts)
        + f"; {result.unchanged:,} unchanged; size {_signed_bytes(result.size_delta)}"
    )


def _signed_bytes(n: int) -> str:
    return ("+" if n >= 0 else "-") + human_bytes(abs(n))


def _count(n: int, noun: str) -> str:
    return f"{n:,} {_plural(n, noun)}"


def _plural(n: int, noun: str) -> str:
    return noun if abs(n) == 1 else noun + "s"
