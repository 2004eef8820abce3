"""DVC pipelines: a `dvc.yaml` → a snapkit Pipeline, read through DVC's own API.

Why DVC's API and not a YAML parser: a dvc.yaml has templating (`vars`, `${}`, `foreach`,
`matrix`), params files in several formats (YAML, JSON, TOML, Python) and per-stage `wdir`;
re-implementing any of that would drift from what `dvc repro` does. DVC resolves the stages
(`Repo.stage.collect`), snapkit only translates each resolved stage into a Step:

    stage cmd (a string or a list)   → Step.cmd (a list joined with " && ")
    deps other than params           → Step.deps, relative to the dvc.yaml's folder
    outs + metrics + plots           → Step.outs, relative to the dvc.yaml's folder
    params (ParamsDependency)        → Step.params: dotted key → value, read by DVC, so a
                                       changed param changes the step's fingerprint
    wdir (other than the dvc.yaml's folder) → `cd <wdir> && <cmd>`

The runner then does what it does for pipeline.yaml: snapshots, fingerprints, step cache.
Refused, each with a clear error: a config (DVC has none), paths outside the dvc.yaml's
folder, non-local deps or outs (s3://, http://), and anything DVC itself refuses.
Not carried over: `frozen`, `always_changed`, `persist`, and the DVC_ROOT / DVC_STAGE
variables `dvc repro` sets for commands.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapkit.errors import InvalidPipeline
from snapkit.pipeline.spec import Pipeline, Step, order_steps

if TYPE_CHECKING:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo
    from dvc.stage import PipelineStage

DEFAULT_PARAMS_FILE = "params.yaml"


def load_dvc_pipeline(spec_path: Path, config: str | None) -> Pipeline:
    """The stages of `spec_path` (a dvc.yaml) as a Pipeline rooted at its folder."""
    spec_path = Path(spec_path).resolve()
    root = spec_path.parent
    if config is not None:
        raise InvalidPipeline(
            f"{spec_path} is a DVC pipeline: it has no config {config!r}",
            hint="DVC pipelines have no configs; change params.yaml instead (or use "
            "a pipeline.yaml, whose `configs` override params)",
        )
    steps = _read_steps(spec_path)
    if not steps:
        raise InvalidPipeline(f"{spec_path} defines no stages")
    return Pipeline(
        name=root.name or "dvc",
        root=root,
        spec_path=spec_path,
        config="default",
        steps=tuple(order_steps(steps, root)),
        kind="dvc",
    )


def _read_steps(spec_path: Path) -> list[Step]:
    """Open the DVC repo around `spec_path` and translate its stages, DVC errors wrapped."""
    try:
        from dvc.exceptions import DvcException
    except ImportError as exc:
        raise InvalidPipeline(
            f"{spec_path} is a DVC pipeline, and DVC is not installed", hint="pip install dvc"
        ) from exc
    try:
        with _open_repo(spec_path) as repo:
            return [_to_step(stage, spec_path.parent) for stage in _stages(repo, spec_path)]
    except (DvcException, ImportError) as exc:  # ImportError: a dvc-s3-like plugin missing
        raise InvalidPipeline(f"DVC cannot read {spec_path}: {_dvc_message(exc)}") from exc


def _open_repo(spec_path: Path) -> Repo:
    """The DVC repo holding `spec_path`: the nearest folder above it with a `.dvc/`."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        root = Repo.find_root(str(spec_path.parent))
    except NotDvcRepoError as exc:
        raise InvalidPipeline(
            f"{spec_path} is not inside a DVC repository ({exc})",
            hint=f"run `dvc init` (or `dvc init --no-scm`) in {spec_path.parent} or above",
        ) from exc
    return Repo(root)


def _stages(repo: Repo, spec_path: Path) -> list[PipelineStage]:
    """The stages this dvc.yaml defines (foreach/matrix expanded by DVC), in file order."""
    from dvc.stage import PipelineStage

    stages = repo.stage.collect(str(spec_path))
    return [s for s in stages if isinstance(s, PipelineStage)]


def _to_step(stage: PipelineStage, root: Path) -> Step:
    from dvc.dependency.param import ParamsDependency

    where = f"stage {stage.name!r}"
    params: dict[str, Any] = {}
    deps: list[str] = []
    params_files: list[str] = []
    for dep in stage.deps:
        if isinstance(dep, ParamsDependency):
            params.update(_param_values(dep, root, where))
            params_files.append(_relative(dep, root, f"{where} params file"))
        else:
            deps.append(_relative(dep, root, f"{where} dep"))
    if not stage.outs:
        raise InvalidPipeline(
            f"{where} has no outs, metrics or plots",
            hint="snapkit snapshots and caches a step by its outputs; declare what it writes",
        )
    return Step(
        name=stage.name,
        cmd=_command(stage, root),
        deps=tuple(deps),
        outs=tuple(_relative(out, root, f"{where} out") for out in stage.outs),
        params=params,
        # the stage reads its params file itself: snapshot it with the inputs (so restore
        # and rerun have it), fingerprint only the declared values (so an unrelated key
        # changing in it does not rerun the stage)
        context=tuple(dict.fromkeys(params_files)),
    )


def _command(stage: PipelineStage, root: Path) -> str:
    """One shell line. DVC runs a list of commands, or each line of a multi-line string,
    one by one and stops at the first failure: `&&` does the same. The runner runs the
    line in `root`, so a stage wdir becomes a `cd`."""
    commands = stage.cmd if isinstance(stage.cmd, list) else str(stage.cmd or "").splitlines()
    commands = [c for c in commands if c.strip()]
    if not commands:
        raise InvalidPipeline(f"stage {stage.name!r}: field `cmd` is missing or empty")
    line = " && ".join(commands)
    wdir = _inside(Path(stage.wdir), root, f"stage {stage.name!r} wdir")
    return line if wdir == "." else f"cd {shlex.quote(wdir)} && {line}"


def _relative(item: Any, root: Path, where: str) -> str:
    """A dep's or out's path relative to `root` (DVC gives it absolute, wdir applied)."""
    if item.protocol != "local":
        raise InvalidPipeline(
            f"{where} {item.def_path!r} is not a local path",
            hint="snapkit snapshots local files only; import remote data with `dvc import-url` "
            "or a stage that downloads it",
        )
    return _inside(Path(item.fs_path), root, f"{where} {item.def_path!r}")


def _inside(path: Path, root: Path, where: str) -> str:
    """`path` relative to `root`; symlinks are not followed (snapkit snapshots them as links)."""
    normal = Path(os.path.normpath(path))
    if normal != root and root not in normal.parents:
        raise InvalidPipeline(
            f"{where} is outside {root}, the dvc.yaml's folder",
            hint="snapkit snapshots paths inside the pipeline folder; move the dvc.yaml up "
            "to a folder that holds everything its stages read and write",
        )
    return normal.relative_to(root).as_posix()


def _param_values(dep: ParamsDependency, root: Path, where: str) -> dict[str, Any]:
    """The stage's params as DVC reads them (missing keys are DVC's error), flattened to
    dotted keys; keys from a file other than params.yaml are prefixed with `file:`."""
    values = dep.get_hash().value
    assert isinstance(values, dict)
    file = _inside(Path(dep.fs_path), root, f"{where} params file {dep.def_path!r}")
    prefix = "" if file == DEFAULT_PARAMS_FILE else f"{file}:"
    return _flatten(values, prefix)


def _flatten(tree: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """JSON-friendly: run records store params as JSON (TOML/YAML may give tuples)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _dvc_message(exc: BaseException) -> str:
    """DVC's message, with the cause it chains (e.g. the YAML error and its line)."""
    message = str(exc)
    cause = exc.__cause__
    while cause is not None:
        detail = str(getattr(cause, "exc", None) or cause).strip()
        if detail and detail not in message:
            message += f": {detail}"
        cause = cause.__cause__
    return message
