"""Append-only JSONL with per-item ids: a killed writer loses at most the batch it was writing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hneuron_eval.suite.readers import DataError, read_jsonl


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All complete records; a torn last line (killed mid-write) is cut off the file, any other bad line is an error."""
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    complete = raw.rfind(b"\n") + 1
    if complete < len(raw):  # torn tail from an interrupted write: drop it so appends stay valid
        with open(path, "r+b") as f:
            f.truncate(complete)
    try:
        rows = read_jsonl(path)
    except DataError as exc:
        raise DataError(f"{exc}; delete the file to start this stage again") from None
    for lineno, rec in rows:
        if "id" not in rec:
            raise DataError(f"{path}:{lineno}: expected an object with an 'id' field")
    return [rec for _, rec in rows]


def append_records(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records as one write, flushed and fsynced."""
    data = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
    if not data:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
