"""Run records in the store: `runs/<run id>` (JSON), `runs-cache/<fingerprint>`, step logs.

A run record is written when the run starts and after each step, and is final (never
written again) once the run ends. A run whose process died shows as interrupted: its
record says "running" but its heartbeat has stopped or its process is gone.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from snapkit.errors import CorruptObject, NotFound, UsageError
from snapkit.snapshot.locks import pid_alive
from snapkit.storage.base import Storage, read_each

RUNS = "runs/"
CACHE = "runs-cache/"
HEARTBEAT_SECONDS = 30.0
FINAL = ("succeeded", "failed", "interrupted")


@dataclass(frozen=True)
class StepRecord:
    name: str
    status: str  # pending | running | succeeded | failed | skipped | cached | not-selected
    cmd: str = ""
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    fingerprint: dict[str, Any] = field(default_factory=dict)
    inputs: str | None = None  # snapshot id
    outputs: str | None = None
    previous_outputs: str | None = None  # what the outs held before the step ran
    exit_code: int | None = None
    seconds: float = 0.0
    log: str | None = None  # object id under logs/
    cache_hit: bool = False
    cached_from: str | None = None  # run id whose outputs were reused
    validations: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class RunRecord:
    id: str
    pipeline: str
    spec: str  # path of the spec, relative to the project root
    config: str
    status: str  # running | succeeded | failed | interrupted
    started: str
    host: str
    pid: int
    user: str
    python: str
    packages: dict[str, str]
    steps: tuple[StepRecord, ...] = ()
    finished: str | None = None
    heartbeat: float = 0.0
    kind: str = "snapkit"

    def step(self, name: str) -> StepRecord:
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFound(
            f"run {self.id} has no step {name!r}",
            hint=f"its steps: {', '.join(s.name for s in self.steps)}",
        )

    def with_step(self, record: StepRecord) -> RunRecord:
        steps = [record if s.name == record.name else s for s in self.steps]
        if record.name not in {s.name for s in self.steps}:
            steps.append(record)
        return replace(self, steps=tuple(steps))

    def effective_status(self, now: float | None = None) -> str:
        """'interrupted' for a run whose process died without saying so."""
        if self.status != "running":
            return self.status
        now = time.time() if now is None else now
        if self.host == socket.gethostname() and not pid_alive(self.pid):
            return "interrupted"
        if now - self.heartbeat > 4 * HEARTBEAT_SECONDS:
            return "interrupted"
        return "running"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunRecord:
        d = dict(d)
        d["steps"] = tuple(
            StepRecord(**{**s, "deps": tuple(s["deps"]), "outs": tuple(s["outs"])})
            for s in d["steps"]
        )
        return cls(**d)


def new_run_id() -> str:
    """`<UTC date-time>-<milliseconds><6 random hex>`: ids sort by start time even for runs
    started within the same second ('latest', `snap runs`); the random part keeps
    concurrent runs on different machines apart."""
    now = datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}{secrets.token_hex(3)}"


class RunStore:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def save(self, record: RunRecord) -> None:
        self.storage.put(RUNS + record.id, json.dumps(record.to_json(), indent=1).encode())

    def load(self, run_id: str) -> RunRecord:
        try:
            data = self.storage.get(RUNS + run_id)
        except NotFound:
            raise NotFound(f"no run {run_id!r}", hint="`snap runs` lists runs") from None
        try:
            return RunRecord.from_json(json.loads(data))
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptObject(
                f"run record {run_id} is unreadable: {exc}", key=RUNS + run_id
            ) from exc

    def ids(self) -> list[str]:
        return sorted(k[len(RUNS) :] for k in self.storage.list(RUNS))

    def all(self) -> list[RunRecord]:
        """Every run, oldest first, read several at a time (`read_each`: run records change
        while a run goes on, so none is cached locally)."""
        return read_each(self.load, self.ids())

    def resolve(self, spec: str) -> RunRecord:
        """A run id, a unique prefix of one, or 'latest', 'latest/<pipeline>',
        'latest/<pipeline>/<config>' (the newest successful-or-not run that matches)."""
        ids = self.ids()
        if spec == "latest" or spec.startswith("latest/"):
            pipeline, _, config = spec.partition("/")[2].partition("/")
            for run_id in reversed(ids):
                record = self.load(run_id)
                if (not pipeline or record.pipeline == pipeline) and (
                    not config or record.config == config
                ):
                    return record
            what = (
                f"of {pipeline}" + (f" with config {config}" if config else "") if pipeline else ""
            )
            raise NotFound(f"no runs {what}".strip(), hint="`snap runs` lists runs")
        matches = [i for i in ids if i.startswith(spec)]
        if len(matches) == 1:
            return self.load(matches[0])
        if len(matches) > 1:
            raise UsageError(f"run prefix {spec!r} is ambiguous ({len(matches)} runs match)")
        raise NotFound(f"no run {spec!r}", hint="`snap runs` lists runs")

    # -- step cache ---------------------------------------------------------------------

    def cached(self, fingerprint_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.storage.get(CACHE + fingerprint_id))
        except NotFound:
            return None
        except ValueError:
            return None  # an unreadable cache entry only costs a rerun

    def remember(
        self, fingerprint_id: str, run_id: str, step: str, outputs: str, warning: str = ""
    ) -> None:
        """`warning`: the failed expectations of an `on_fail: warn` step, shown again by
        every run that takes these outputs from the cache."""
        body = {"run": run_id, "step": step, "outputs": outputs}
        if warning:
            body["warning"] = warning
        self.storage.put_if_absent(CACHE + fingerprint_id, json.dumps(body).encode())

    def forget_cache(self, fingerprint_id: str) -> None:
        self.storage.delete(CACHE + fingerprint_id)
