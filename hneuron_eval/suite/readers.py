"""Shared readers for bundled data files: errors name the file, the line and the field."""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

from hneuron_eval.errors import HNeuronError


class DataError(HNeuronError, ValueError):
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


DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def data_path(*parts: str) -> Path:
    """A bundled data file (``hneuron_eval/data/...``): the one copy the tasks and identification read."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        raise DataError(f"{path}: bundled data file is missing (reinstall hneuron-eval)")
    return path


def read_qa_tsv(path: str | Path) -> list[tuple[int, str, list[str]]]:
    """Read a DPR-style ``question<TAB>['alias', ...]`` file as ``(line number, question, aliases)``.

    Blank aliases are dropped; the caller decides what an empty question or alias list means.
    """
    path = Path(path)
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        for lineno, cols in enumerate(csv.reader(f, delimiter="\t"), start=1):
            where = f"{path}:{lineno}"
            if len(cols) != 2:
                raise DataError(f"{where}: expected 2 tab-separated columns (question, answers), got {len(cols)}")
            try:
                aliases = ast.literal_eval(cols[1])
            except (ValueError, SyntaxError) as exc:
                raise DataError(
                    f"{where}: answers: expected a Python list literal of strings, got {cols[1][:80]!r} ({exc})"
                ) from None
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise DataError(f"{where}: answers: expected a list of strings, got {type(aliases).__name__}")
            rows.append((lineno, cols[0].strip(), [a for a in aliases if a.strip()]))
    return rows
