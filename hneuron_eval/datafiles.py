"""Shared readers for bundled data files: errors name the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path


class DataError(ValueError):
    """A data file does not have the expected format; the message says where and what."""


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """Read JSON Lines as ``(line number, object)`` pairs; blank lines are skipped, bad ones raise."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: expected a JSON object, got invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            out.append((lineno, obj))
    return out
