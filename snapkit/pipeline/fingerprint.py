"""A step's fingerprint: what determines its outputs, hashed.

Parts: the command, the step's params, its declared environment (secrets only as set /
unset), the Python interpreter and installed package versions, and the content of each
dep (code and data alike: a digest of its files' paths and content hashes, not mtimes).
Two runs with the same fingerprint must make the same outputs; that is the step cache.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from blake3 import blake3

from snapkit.pipeline.spec import Step
from snapkit.snapshot.model import FileEntry
from snapkit.validation.suites import suite_digest


@dataclass(frozen=True)
class Fingerprint:
    cmd: str
    params: dict[str, Any]
    env: dict[str, str]
    python: str
    packages: str  # digest of the sorted name==version list (the list is in the run record)
    deps: dict[str, str]  # dep path → content digest
    suites: dict[str, str] = field(default_factory=dict)  # checked output → suite digest

    @property
    def id(self) -> str:
        body = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=str)
        return blake3(body.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "id": self.id}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Fingerprint:
        return cls(
            d["cmd"],
            d["params"],
            d["env"],
            d["python"],
            d["packages"],
            d["deps"],
            d.get("suites", {}),
        )

    def differences(self, other: Fingerprint) -> list[str]:
        """Human-readable parts that differ (other → self)."""
        out = []
        if self.cmd != other.cmd:
            out.append(f"command: {other.cmd!r} → {self.cmd!r}")
        for key in sorted(set(self.params) | set(other.params)):
            a, b = other.params.get(key, "(unset)"), self.params.get(key, "(unset)")
            if a != b:
                out.append(f"param {key}: {a} → {b}")
        for key in sorted(set(self.env) | set(other.env)):
            a, b = other.env.get(key, "(undeclared)"), self.env.get(key, "(undeclared)")
            if a != b:
                out.append(f"env {key}: {a} → {b}")
        if self.python != other.python:
            out.append(f"python: {other.python} → {self.python}")
        if self.packages != other.packages:
            out.append("installed packages differ")
        for key in sorted(set(self.deps) | set(other.deps)):
            if self.deps.get(key) != other.deps.get(key):
                out.append(f"dep {key}: content differs")
        for key in sorted(set(self.suites) | set(other.suites)):
            if self.suites.get(key) != other.suites.get(key):
                out.append(f"suite for {key}: differs")
        return out


def env_values(step: Step, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Declared variables only; secret ones recorded as set/unset, never by value."""
    environ = dict(os.environ) if environ is None else environ
    out = {}
    for var in step.env:
        value = environ.get(var.name)
        if var.secret:
            out[var.name] = "(set)" if value is not None else "(unset)"
        else:
            out[var.name] = value if value is not None else "(unset)"
    return out


@lru_cache(maxsize=1)
def installed_packages() -> dict[str, str]:
    from importlib import metadata

    pkgs = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            pkgs[name.lower()] = dist.version
    return dict(sorted(pkgs.items()))


def packages_digest(packages: dict[str, str]) -> str:
    return blake3(json.dumps(packages, sort_keys=True).encode()).hexdigest()[:32]


def python_version() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def dep_digests(step: Step, entries: list[FileEntry]) -> dict[str, str]:
    """Per dep, the digest of (relative path, kind, content hash, link) of what is under it."""
    out = {}
    for dep in step.deps:
        h = blake3()
        for e in entries:
            if e.path == dep or e.path.startswith(dep + "/"):
                h.update(f"{e.path}\0{e.kind}\0{e.hash}\0{e.link_target}\n".encode())
        out[dep] = h.hexdigest()
    return out


def suite_digests(step: Step, root: Path) -> dict[str, str]:
    """The content of the suites the step's outputs are checked against: editing a suite
    makes the step run (and be checked) again rather than come from the cache unchecked."""
    return {
        output: suite_digest(root / suite) for output, suite in sorted(step.expectations.items())
    }


def fingerprint(
    step: Step, input_entries: list[FileEntry], root: Path | None = None
) -> Fingerprint:
    return Fingerprint(
        cmd=step.cmd,
        params=step.params,
        env=env_values(step),
        python=python_version(),
        packages=packages_digest(installed_packages()),
        deps=dep_digests(step, input_entries),
        suites=suite_digests(step, root) if root is not None else {},
    )
