"""Pipeline specs: `pipeline.yaml` (or a DVC `dvc.yaml`) → a validated, immutable Pipeline.

    name: spam
    params: {generate: {rows: 100000}, train: {c: 1.0}}      # defaults, or: params.yaml
    steps:
      generate:
        cmd: python generate.py data/raw --rows ${generate.rows}
        deps: [generate.py]
        outs: [data/raw]
        params: [generate]              # dotted keys of `params` the step depends on
        env: [OMP_NUM_THREADS, {name: API_TOKEN, secret: true}]
        expectations: {data/raw/emails.parquet: ../../expectations/spam_raw.json}
    configs:
      production: {params: {generate.rows: 300000}}

`${dotted.key}` is replaced by the (config-overridden) param value in cmd, deps and outs,
so a config can change sizes and input paths of the same steps. Every problem (cycle,
unknown dep, two steps writing one output, missing cmd, unknown param) is reported before
anything runs, naming the step and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from snapkit.errors import InvalidPipeline

SPEC_NAMES = ("pipeline.yaml", "pipeline.yml")
_VAR = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
SECRET_NAME = re.compile(r"(_KEY|_SECRET|_TOKEN)$|PASSWORD", re.IGNORECASE)


@dataclass(frozen=True)
class EnvVar:
    name: str
    secret: bool


@dataclass(frozen=True)
class Step:
    name: str
    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)  # dotted key → value
    env: tuple[EnvVar, ...] = ()
    expectations: dict[str, str] = field(default_factory=dict)  # output file → suite path
    on_fail: str = "error"
    # files the command reads that are fingerprinted by value, not content (DVC params
    # files): part of the inputs snapshot, not of the dep digests
    context: tuple[str, ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        """Everything snapshotted before the step runs."""
        return tuple(dict.fromkeys((*self.deps, *self.context)))


@dataclass(frozen=True)
class Pipeline:
    name: str
    root: Path  # the folder steps run in; deps and outs are relative to it
    spec_path: Path
    config: str
    steps: tuple[Step, ...]  # in dependency order
    kind: str = "snapkit"  # or "dvc"

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise InvalidPipeline(
            f"pipeline {self.name} has no step {name!r}",
            hint=f"its steps are: {', '.join(s.name for s in self.steps)}",
        )

    def upstream(self, step: Step) -> list[Step]:
        """Steps whose outputs `step` reads."""
        return [s for s in self.steps if s is not step and _overlaps(s.outs, step.deps)]

    def downstream_of(self, names: set[str]) -> set[str]:
        """`names` and every step that (transitively) reads their outputs."""
        out = set(names)
        for s in self.steps:  # dependency order: one pass suffices
            if any(u.name in out for u in self.upstream(s)):
                out.add(s.name)
        return out


def find_spec(path: Path) -> Path:
    """`path` is a spec file, or a folder holding pipeline.yaml (or dvc.yaml)."""
    if path.is_file():
        return path
    for name in (*SPEC_NAMES, "dvc.yaml"):
        if (path / name).is_file():
            return path / name
    raise InvalidPipeline(
        f"no pipeline at {path}", hint="give a folder with pipeline.yaml, or a dvc.yaml file"
    )


def load_pipeline(
    path: Path, config: str | None = None, overrides: dict[str, Any] | None = None
) -> Pipeline:
    spec_path = find_spec(Path(path)).resolve()
    if spec_path.name == "dvc.yaml":
        from snapkit.pipeline.dvc import load_dvc_pipeline

        if overrides:
            raise InvalidPipeline("--set is not supported for dvc.yaml: edit params.yaml")
        return load_dvc_pipeline(spec_path, config)
    import yaml

    try:
        doc = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError) as exc:
        raise InvalidPipeline(f"cannot read {spec_path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidPipeline(f"{spec_path} must be a mapping with `steps`")
    return build_pipeline(doc, spec_path, config, overrides or {})


def build_pipeline(
    doc: dict[str, Any], spec_path: Path, config: str | None, overrides: dict[str, Any]
) -> Pipeline:
    name = str(doc.get("name") or spec_path.parent.name)
    params = _flatten(_params_doc(doc.get("params"), spec_path.parent), "params")
    chosen = config or "default"
    configs = doc.get("configs") or {}
    if config is not None:
        if config not in configs:
            raise InvalidPipeline(
                f"pipeline {name} has no config {config!r}",
                hint=f"its configs are: {', '.join(configs) or '(none)'}",
            )
        config_params = (configs[config] or {}).get("params") or {}
        for key, value in _flatten(config_params, f"configs.{config}.params").items():
            if key not in params:
                raise InvalidPipeline(f"configs.{config}.params: unknown param {key!r}")
            params[key] = value
    for key, value in overrides.items():  # --set KEY=VALUE, after the config
        if key not in params:
            raise InvalidPipeline(f"--set: unknown param {key!r}")
        params[key] = value
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        raise InvalidPipeline(f"{spec_path}: `steps` must be a non-empty mapping of name → step")
    steps = [_build_step(n, s, params) for n, s in raw_steps.items()]
    ordered = order_steps(steps, spec_path.parent)
    return Pipeline(name, spec_path.parent, spec_path, chosen, tuple(ordered))


def _params_doc(value: Any, root: Path) -> Any:
    """`params:` inline (a mapping) or the name of a YAML file next to the spec."""
    if not isinstance(value, str):
        return value or {}
    import yaml

    path = root / value
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidPipeline(f"params: cannot read params file {path}: {exc}") from exc
    return loaded or {}


def _build_step(name: str, raw: Any, params: dict[str, Any]) -> Step:
    where = f"step {name!r}"
    if not isinstance(raw, dict):
        raise InvalidPipeline(f"{where} must be a mapping")
    unknown = set(raw) - {"cmd", "deps", "outs", "params", "env", "expectations", "on_fail"}
    if unknown:
        raise InvalidPipeline(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if not isinstance(raw.get("cmd"), str) or not raw["cmd"].strip():
        raise InvalidPipeline(f"{where}: field `cmd` is missing or empty")
    keys = _list(raw.get("params"), f"{where}.params")
    step_params = _select_params(keys, params, where)

    def fill(text: str, fld: str) -> str:
        return _interpolate(text, params, f"{where}.{fld}")

    step = Step(
        name=name,
        cmd=fill(raw["cmd"], "cmd"),
        deps=tuple(
            _clean_path(fill(d, "deps"), f"{where}.deps")
            for d in _list(raw.get("deps"), f"{where}.deps")
        ),
        outs=tuple(
            _clean_path(fill(o, "outs"), f"{where}.outs")
            for o in _list(raw.get("outs"), f"{where}.outs")
        ),
        params=step_params,
        env=tuple(
            _env_var(e, where) for e in _list(raw.get("env"), f"{where}.env", allow_maps=True)
        ),
        expectations={
            _clean_path(k, f"{where}.expectations"): str(v)
            for k, v in (raw.get("expectations") or {}).items()
        },
        on_fail=_on_fail(raw.get("on_fail", "error"), where),
    )
    for output in step.expectations:
        if not _overlaps((output,), step.outs):
            raise InvalidPipeline(
                f"{where}.expectations: {output!r} is not one of the step's outputs"
            )
    return step


def _on_fail(value: Any, where: str) -> str:
    if value not in ("error", "warn"):
        raise InvalidPipeline(f"{where}.on_fail: {value!r} is not one of error, warn")
    return str(value)


def order_steps(steps: list[Step], root: Path) -> list[Step]:
    """Dependency order; refuses cycles, unknown deps and two steps writing one output."""
    writers: dict[str, str] = {}
    for s in steps:
        if not s.outs:
            raise InvalidPipeline(f"step {s.name!r}: field `outs` is empty")
        for o in s.outs:
            for other_out, other in writers.items():
                if other != s.name and _overlaps((o,), (other_out,)):
                    raise InvalidPipeline(
                        f"steps {other!r} and {s.name!r} both write {o!r} (field `outs`)"
                    )
            writers[o] = s.name
    for s in steps:
        for d in s.deps:
            if _overlaps((d,), s.outs):
                raise InvalidPipeline(
                    f"step {s.name!r} reads {d!r}, which it writes itself (fields `deps`/`outs`)"
                )
            made = any(_overlaps((d,), (o,)) for o in writers)
            if not made and not (root / d).exists():
                raise InvalidPipeline(
                    f"step {s.name!r}: dep {d!r} does not exist and no step makes it (field `deps`)"
                )
    by_name = {s.name: s for s in steps}
    ordered: list[Step] = []
    state: dict[str, str] = {}

    def visit(s: Step, path: list[str]) -> None:
        if state.get(s.name) == "done":
            return
        if state.get(s.name) == "visiting":
            cycle = " → ".join([*path[path.index(s.name) :], s.name])
            raise InvalidPipeline(f"steps form a cycle: {cycle} (fields `deps`/`outs`)")
        state[s.name] = "visiting"
        for d in s.deps:
            for o, w in writers.items():
                if w != s.name and _overlaps((d,), (o,)):
                    visit(by_name[w], [*path, s.name])
        state[s.name] = "done"
        ordered.append(s)

    for s in steps:
        visit(s, [])
    return ordered


def _overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two path lists touch: equal paths, or one inside the other."""
    return any(x == y or x.startswith(y + "/") or y.startswith(x + "/") for x in a for y in b)


def _flatten(tree: Any, where: str, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        raise InvalidPipeline(f"{where} must be a mapping")
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, where, key + "."))
        else:
            out[key] = v
    return out


def _select_params(keys: list[str], params: dict[str, Any], where: str) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for key in keys:
        matched = {k: v for k, v in params.items() if k == key or k.startswith(key + ".")}
        if not matched:
            raise InvalidPipeline(f"{where}.params: unknown param {key!r}")
        chosen.update(matched)
    return chosen


def _interpolate(text: str, params: dict[str, Any], where: str) -> str:
    def value(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in params:
            raise InvalidPipeline(f"{where}: unknown param ${{{key}}}")
        v = params[key]
        return str(v).lower() if isinstance(v, bool) else str(v)

    return _VAR.sub(value, text)


def _list(value: Any, where: str, allow_maps: bool = False) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(
        isinstance(v, str) or (allow_maps and isinstance(v, dict)) for v in value
    ):
        raise InvalidPipeline(f"{where} must be a list of strings")
    return value


def _clean_path(path: str, where: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not path.strip():
        raise InvalidPipeline(
            f"{where}: {path!r} must be a relative path inside the pipeline folder"
        )
    return p.as_posix()


def _env_var(item: Any, where: str) -> EnvVar:
    if isinstance(item, str):
        return EnvVar(item, bool(SECRET_NAME.search(item)))
    name = item.get("name")
    if not isinstance(name, str):
        raise InvalidPipeline(f"{where}.env: an entry needs a `name`")
    return EnvVar(name, bool(item.get("secret")) or bool(SECRET_NAME.search(name)))
