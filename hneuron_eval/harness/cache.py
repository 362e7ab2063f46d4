"""Where the package keeps what it makes once per machine: converted models, the bfloat16 probe."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HNEURON_EVAL_CACHE"


def cache_root() -> Path:
    """``$HNEURON_EVAL_CACHE`` or ``~/.cache/hneuron-eval``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hneuron-eval").expanduser()
