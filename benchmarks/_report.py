"""What the benchmark scripts share: a command run under GNU time, and the ending (command, date, versions)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.core.provenance import command_line, utc_now


def emit(result: dict[str, Any], out: str | None) -> None:
    """Print ``result`` as JSON and, with ``out``, write it there with the producing command."""
    import torch
    import transformers

    result = {
        "command": command_line("python", sys.argv),
        "date": utc_now(),
        **result,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "threads": torch.get_num_threads(),
        "git": _git_state(),
    }
    print(json.dumps(result, indent=2))
    if out:
        write_json_atomic(out, result)


def _git_state() -> str:
    """The commit the benchmark ran from, and whether the package or tasks had uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (uncommitted changes)" if git("status", "--porcelain", "--", "../hneuron_eval", "../tasks")
                     else "")


def timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` under GNU time; wall seconds and peak resident memory in MiB."""
    stats = log.with_suffix(".time")
    start = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(stats), *cmd], stdout=f, stderr=subprocess.STDOUT,
                              env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(int(stats.read_text().split()[-1]) / 1024, 1)}
