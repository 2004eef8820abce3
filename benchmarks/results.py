"""benchmarks/RESULTS.md: each run label owns one section between markers; the rest of the
file (notes, profiles) is written by hand and kept as it is."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = """# Benchmarks: snapkit against DVC

Written by `make bench` / `python -m benchmarks` (see `benchmarks/__init__.py` for what each
scenario measures). Sections between `bench:` markers are rewritten by each run with that
label; the rest of the file is kept.
"""


def write_section(path: Path, label: str, body: str) -> None:
    """Put `body` in `path` as the section `label`, replacing the old one or appending."""
    begin, end = f"<!-- bench:{label} begin -->", f"<!-- bench:{label} end -->"
    section = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
