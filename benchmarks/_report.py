"""Shared ending of the benchmark scripts: add command, date and versions, print, write atomically."""

from __future__ import annotations

import json
import platform
import sys
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
    }
    print(json.dumps(result, indent=2))
    if out:
        write_json_atomic(out, result)
