"""Atomic writes: a file is either absent, the old version, or the complete new one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, default_mode())  # mkstemp makes it 0600; a plain open() would honour the umask
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def default_mode(directory: bool = False) -> int:
    """The mode a new file (0o666) or directory (0o777) gets under the process's umask."""
    umask = os.umask(0o077)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def apply_umask(tree: str | os.PathLike) -> None:
    """Give ``tree`` and everything under it the umask's modes (undoing private temp-file modes)."""
    file_mode, dir_mode = default_mode(), default_mode(directory=True)
    for folder, _dirs, files in os.walk(tree):
        os.chmod(folder, dir_mode)
        for name in files:
            os.chmod(os.path.join(folder, name), file_mode)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically; NaN/inf are refused."""
    write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=False, ensure_ascii=False) + "\n")
