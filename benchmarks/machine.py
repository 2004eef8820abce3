"""What the numbers were measured on: cores, memory, disk, Python, tool versions."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def disk(path: Path) -> str:
    """File system type and size of the folder the benchmark works in (`df -hT`)."""
    out = subprocess.run(["df", "-hT", str(path)], capture_output=True, text=True)
    fields = out.stdout.splitlines()[-1].split() if out.returncode == 0 else []
    return f"{fields[1]} on {fields[0]}, {fields[2]}" if len(fields) > 2 else "unknown"


def describe(work: Path, versions: dict[str, str]) -> list[str]:
    """Markdown bullet lines describing the machine and the versions."""
    tools = ", ".join(f"{name} {version}" for name, version in versions.items())
    return [
        f"- machine: {os.cpu_count()} cores ({cpu_model()}), {memory()} RAM, "
        f"disk {disk(work)}; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {tools}",
    ]
