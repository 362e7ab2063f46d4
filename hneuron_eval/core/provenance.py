"""What produced an artifact: when, and the command line as someone else can re-type it."""

from __future__ import annotations

import datetime as dt
import os
import shlex
from collections.abc import Sequence
from pathlib import Path


def utc_now() -> str:
    """The current time in UTC, to the second, ISO 8601 (the ``created`` field of artifacts)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def repo_root() -> Path | None:
    """The checkout this package runs from, or None for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "hneuron_eval").is_dir() else None


def command_line(program: str, argv: Sequence[str], root: Path | None = None) -> str:
    """``program argv...`` shell-quoted, each argument as typed except absolute paths inside the checkout.

    Those become relative to the checkout's root, so a recorded command reads the same in every
    clone (run it from that root); every other argument, relative or absolute, stays as typed.
    """
    root = root if root is not None else repo_root()
    return shlex.join([program, *(_relative(arg, root) for arg in argv)])


def _relative(arg: str, root: Path | None) -> str:
    if root is None:
        return arg
    option, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    if not os.path.isabs(value):
        return arg
    path = Path(os.path.normpath(value))
    if not path.is_relative_to(root):
        return arg
    return f"{option}{eq}{Path(os.path.relpath(path, root)).as_posix()}"
