"""The round scripts' command-line entry: an expected error is one line naming the file, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from hneuron_eval.judges.labels import LabelFileError


def run(main: Callable[[list[str]], None]) -> None:
    """Call ``main`` with the command line; a bad label file or a missing file exits 1 with its message."""
    try:
        main(sys.argv[1:])
    except (LabelFileError, OSError) as exc:
        sys.exit(f"error: {exc}")
