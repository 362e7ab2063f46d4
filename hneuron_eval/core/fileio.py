"""Atomic writes (a file is either absent, the old version, or the complete new one) and artifact identity checks."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hneuron_eval.errors import HNeuronError


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


class ArtifactMismatchError(HNeuronError, ValueError):
    """An artifact was made for another model or run than the one it is used with."""


def check_identity(path: str | Path, found: dict[str, Any], expected: dict[str, Any]) -> None:
    """Refuse an artifact whose model name, FFN shape or run id differs from ``expected``; the message names both."""
    for key in ("model", "num_layers", "d_ff", "run_id"):
        if key in expected and found.get(key) != expected[key]:
            raise ArtifactMismatchError(
                f"{path}: made for model {found.get('model')!r} ({found.get('num_layers')} layers x d_ff "
                f"{found.get('d_ff')}, run {found.get('run_id')!r}) but this run uses model {expected.get('model')!r} "
                f"({expected.get('num_layers')} layers x d_ff {expected.get('d_ff')}, run {expected.get('run_id')!r}); "
                f"field {key!r} differs"
            )
