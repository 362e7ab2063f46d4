"""Append-only JSONL with per-item ids: a killed writer loses at most the batch it was writing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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
    out = []
    # split on "\n" only: str.splitlines() also splits inside strings at U+0085, U+2028, ...
    for lineno, line in enumerate(raw[:complete].decode("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {lineno}: malformed JSON ({exc.msg}); delete the file to start this stage again") from None
        if not isinstance(rec, dict) or "id" not in rec:
            raise ValueError(f"{path}: line {lineno}: expected an object with an 'id' field")
        out.append(rec)
    return out


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
