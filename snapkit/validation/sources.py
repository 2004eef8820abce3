"""What to validate: a local file or folder, a snapshot, or a run step's outputs.

    data/features/features.parquet     a local table file (Parquet, CSV, TSV, JSON lines)
    data/features                      a local folder: every table file in it
    raw-v1  /  raw-v1:emails.parquet   a snapshot (tag, id or id prefix), optionally a path in it
    latest:preprocess[:PATH]           RUN:STEP, the outputs that step made

Tags and snapshot ids never contain ':', so in `A:B` the part `A` is tried as a snapshot
first (then `B` is a path in it), else `A:B` is a run step. Stored files are read straight
from the store (`Store.open`: lazily, chunk by chunk, verified), never restored to disk,
and every table is streamed as Arrow tables of a fixed number of rows (`TableSource.batches`).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from snapkit.errors import NotFound, SnapError, StoreUnavailable, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from snapkit.pipeline.records import RunRecord, StepRecord
    from snapkit.snapshot.model import FileEntry
    from snapkit.snapshot.repo import Repo

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
NAMED_ONLY = {".json": "jsonl"}  # read as JSON lines when named, not picked from a folder
CSV_BLOCK = 8 << 20  # bytes per CSV/JSON block; column types are inferred from the first
PROBE_ROWS = 1024


class SnapshotReader(Protocol):
    """The part of a store that validation reads through (`snapkit.api.Store` has it)."""

    repo: Repo

    def open(self, spec: str, path: str | None = None) -> BinaryIO: ...

    def ls(self, spec: str, path: str | None = None) -> list[FileEntry]: ...

    def step(self, ref: str) -> tuple[RunRecord, StepRecord]: ...


StoreArg = SnapshotReader | Callable[[], SnapshotReader] | None


@dataclass(frozen=True)
class TableFile:
    name: str  # as shown in reports: relative to the target
    format: str  # parquet | csv | tsv | jsonl
    size: int
    opener: Callable[[], BinaryIO]
    local_path: str | None = None  # a real file (Spark reads those directly)


@dataclass(frozen=True)
class TableSource:
    """The table files of one target, read as one table (rows of every file in order)."""

    target: str  # what the user named
    label: str  # what it resolved to
    files: tuple[TableFile, ...]

    def batches(self, rows: int) -> Iterator[pa.Table]:
        """Tables of exactly `rows` rows (the last may be shorter; at least one, maybe empty).

        Files must have the same columns; types are unified where Arrow can (int → float).
        """
        import pyarrow as pa

        pending: list[pa.Table] = []
        held = 0
        first: pa.Schema | None = None
        for file in self.files:
            for batch in read_batches(file, rows):
                table = pa.Table.from_batches([batch])
                if first is None:
                    first = table.schema
                elif table.schema.names != first.names:
                    raise _column_mismatch(self.files[0], file, first, table.schema)
                pending.append(table)
                held += table.num_rows
                while held >= rows:
                    whole = _concat(pending)
                    yield whole.slice(0, rows)
                    pending, held = [whole.slice(rows)], held - rows
        if held or first is None:
            yield _concat(pending) if pending else self.schema().empty_table()

    def schema(self) -> pa.Schema:
        """The first file's schema (from its footer or first block), even with no rows."""
        import pyarrow as pa

        file = self.files[0]
        with file.opener() as handle:
            try:
                return _open_reader(file.format, handle, 1)[0]
            except pa.ArrowException as exc:
                raise _unreadable(file, exc) from exc

    def rows_for_memory(self, memory_limit: int) -> int:
        """Batch rows that keep a batch, as pandas and GX work on it, within `memory_limit`.

        Measured on the first rows: Arrow bytes per row times `EXPANSION` (the pandas copy,
        Python string objects, GX's temporaries). An estimate, not a guarantee."""
        probe = next(self.batches(PROBE_ROWS))
        per_row = max(1, probe.nbytes // max(1, probe.num_rows))
        return max(1_000, memory_limit // (per_row * EXPANSION))


EXPANSION = 8


def resolve_target(
    target: str, store: StoreArg = None, *, path_glob: str | None = None
) -> TableSource:
    """TARGET (see the module docstring) → its table files, filtered by `path_glob`."""
    local = Path(target)
    if local.exists():
        return _local_source(target, local, path_glob)
    reader = _reader(store, target)
    spec, inner, label = _store_ref(reader, target)
    try:
        entries = reader.ls(spec, inner)
    except NotFound:
        raise NotFound(f"no path {inner!r} in {label}", hint=f"`snap ls {spec[:12]}`") from None
    base = (inner or "").strip("/")
    files = []
    for entry in entries:
        if entry.kind != "file":
            continue
        rel = entry.path if not base or entry.path == base else entry.path[len(base) + 1 :]
        fmt = table_format(entry.path, named=entry.path == base)
        if fmt and _wanted(rel, path_glob):
            files.append(
                TableFile(entry.path, fmt, entry.size, _store_opener(reader, spec, entry.path))
            )
    return _source(target, label, files, path_glob)


def table_format(path: str, *, named: bool = False) -> str | None:
    suffix = PurePosixPath(path).suffix.lower()
    return FORMATS.get(suffix) or (NAMED_ONLY.get(suffix) if named else None)


def read_batches(file: TableFile, rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of one file, streamed; unreadable data is a SnapError naming it."""
    import pyarrow as pa

    handle = file.opener()
    try:
        yield from _format_reader(file.format, handle, rows)
    except pa.ArrowException as exc:
        raise _unreadable(file, exc) from exc
    finally:
        handle.close()


def _unreadable(file: TableFile, exc: Exception) -> SnapError:
    return SnapError(
        f"cannot read {file.name} as {_FORMAT_NAMES[file.format]}: {exc}",
        hint="CSV and JSON column types are inferred from the first 8 MiB"
        if file.format != "parquet"
        else None,
    )


_FORMAT_NAMES = {"parquet": "Parquet", "csv": "CSV", "tsv": "TSV", "jsonl": "JSON lines"}


def _format_reader(fmt: str, handle: BinaryIO, rows: int) -> Iterator[pa.RecordBatch]:
    yield from _open_reader(fmt, handle, rows)[1]


def _open_reader(fmt: str, handle: BinaryIO, rows: int) -> tuple[pa.Schema, Iterable[Any]]:
    """(schema, record batches) of one file: the schema is known even with no rows."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(handle, buffer_size=1 << 20)
        return parquet.schema_arrow, parquet.iter_batches(batch_size=rows)
    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pacsv

        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK),
            parse_options=pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),  # "" is null,
        )  # as for pandas.read_csv
        return reader.schema, reader
    import pyarrow.json as pj

    reader = pj.open_json(handle, read_options=pj.ReadOptions(block_size=CSV_BLOCK))
    return reader.schema, reader


def _local_source(target: str, path: Path, path_glob: str | None) -> TableSource:
    if path.is_file():
        fmt = table_format(path.name, named=True)
        if fmt is None:
            raise UsageError(
                f"{target} is not a table file",
                hint="validate Parquet (.parquet), CSV (.csv, .tsv) or JSON lines (.jsonl)",
            )
        return _source(target, target, [_local_file(path, path.name, fmt)], None)
    files = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(path).as_posix()
            fmt = table_format(name)
            if fmt and not name.startswith((".", "_")) and _wanted(rel, path_glob):
                files.append(_local_file(full, rel, fmt))
    return _source(target, f"folder {target}", files, path_glob)


def _local_file(path: Path, name: str, fmt: str) -> TableFile:
    return TableFile(name, fmt, path.stat().st_size, lambda: open(path, "rb"), str(path))


def _source(target: str, label: str, files: list[TableFile], path_glob: str | None) -> TableSource:
    if not files:
        what = f"matching {path_glob!r} " if path_glob else ""
        raise NotFound(
            f"no table files {what}in {label} (Parquet, CSV, TSV or JSON lines)",
            hint="name a table file, or pick files with --path GLOB",
        )
    _refuse_copies(label, files)
    return TableSource(target, label, tuple(files))


def _refuse_copies(label: str, files: list[TableFile]) -> None:
    """Table files with one name and two suffixes (`emails.csv` and `emails.parquet`, or
    `.pq` and `.parquet`) are two copies of one table, not two parts of it: read as one
    table, every row would count twice (and a uniqueness expectation fail for no fault of
    the data)."""
    seen: dict[str, TableFile] = {}
    for file in files:
        name = str(PurePosixPath(file.name).with_suffix(""))
        first = seen.setdefault(name, file)
        if first is not file:  # (paths are unique: the suffix differs)
            suffix = PurePosixPath(first.name).suffix
            raise UsageError(
                f"{first.name} and {file.name} in {label} look like two copies of one table "
                "(one name, two file types): validated as one table, every row would count "
                "twice",
                hint=f"pick one format with --path, e.g. --path '*{suffix}'",
            )


def _wanted(rel: str, path_glob: str | None) -> bool:
    if not path_glob:
        return True
    return fnmatch.fnmatch(rel, path_glob) or fnmatch.fnmatch(PurePosixPath(rel).name, path_glob)


def _reader(store: StoreArg, target: str) -> SnapshotReader:
    if store is None:
        raise NotFound(f"no file or folder {target}")
    if hasattr(store, "repo"):
        return store  # type: ignore[return-value]
    try:
        return store()  # type: ignore[operator]
    except StoreUnavailable as exc:
        raise NotFound(
            f"no file or folder {target}, and no store to find a snapshot in ({exc})"
        ) from exc


def _store_ref(reader: SnapshotReader, target: str) -> tuple[str, str | None, str]:
    """(snapshot spec, path inside or None, label) for SNAP[:PATH] or RUN:STEP[:PATH]."""
    head, sep, rest = target.partition(":")
    try:
        sid = reader.repo.resolve(head)
        return sid, rest or None, f"snapshot {head}" + (f" ({sid[:12]})" if sid != head else "")
    except NotFound:
        if not sep:
            raise NotFound(
                f"no file, folder or snapshot named {target!r}",
                hint="`snap log` lists snapshots; RUN:STEP names a run step's outputs",
            ) from None
    step_name, _, inner = rest.partition(":")
    try:
        run, step = reader.step(f"{head}:{step_name}")
    except NotFound as exc:
        raise NotFound(
            f"no file, snapshot or run step named {target!r} ({exc})",
            hint="`snap log` lists snapshots, `snap runs` lists runs",
        ) from None
    if step.outputs is None:
        raise NotFound(f"step {step.name} of run {run.id} has no outputs snapshot ({step.status})")
    return step.outputs, inner or None, f"outputs of {run.id}:{step.name}"


def _store_opener(reader: SnapshotReader, spec: str, path: str) -> Callable[[], BinaryIO]:
    return lambda: reader.open(spec, path)


def _concat(tables: list[Any]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def _column_mismatch(a: TableFile, b: TableFile, sa: pa.Schema, sb: pa.Schema) -> SnapError:
    return UsageError(
        f"{a.name} and {b.name} have different columns ({', '.join(sa.names)} / "
        f"{', '.join(sb.names)}): they cannot be validated as one table",
        hint="pick the files of one table with --path GLOB",
    )
