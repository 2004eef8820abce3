"""Exclude rules: `--exclude` patterns and a `.snapignore` file, in gitignore style.

A pattern without '/' matches a name at any depth; with '/' it is anchored at the root;
a trailing '/' matches directories only; '*' and '?' stay within one path part, '**' spans
parts; a leading '!' re-includes. The last matching pattern wins. The store folder `.snap`
is always excluded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".snapignore"
ALWAYS = (".snap/",)


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def compile_rule(line: str) -> Rule | None:
    line = line.rstrip("\n").rstrip()
    if not line or line.startswith("#"):
        return None
    negate = line.startswith("!")
    if negate:
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    anchored = "/" in line
    line = line.lstrip("/")
    body = _translate(line)
    regex = re.compile(("" if anchored else "(?:.*/)?") + body + "$")
    return Rule(regex, negate, dir_only)


class Ignore:
    def __init__(self, patterns: list[str]) -> None:
        self.rules = [r for r in (compile_rule(p) for p in [*ALWAYS, *patterns]) if r]

    @classmethod
    def for_root(cls, root: Path, extra: list[str] | tuple[str, ...] = ()) -> Ignore:
        patterns: list[str] = []
        ignore_file = root / IGNORE_FILE
        if root.is_dir() and ignore_file.is_file():
            patterns.extend(ignore_file.read_text(encoding="utf-8").splitlines())
        patterns.extend(extra)
        return cls(patterns)

    def excluded(self, relpath: str, is_dir: bool) -> bool:
        result = False
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(relpath):
                result = not rule.negate
        return result
