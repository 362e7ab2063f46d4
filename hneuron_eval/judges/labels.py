"""Blind labels of responses: what a labeller is shown, the classes of each task side, and labelled files read back.

A labelled file is JSON lines; each row holds the response, the task document it answers
(``doc``, as lm-eval logged it), the labeller's class (``label``) and, for a stratified draw,
the row's ``weight`` (its stratum's pool size over the rows drawn from it). Rows are checked as
they are read: an unknown class or a missing field is an error naming the file, line and field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hneuron_eval.errors import HNeuronError
from hneuron_eval.suite.data import jailbreak_request
from hneuron_eval.suite.kinds import get_kind

TASK_KINDS = {
    "hn_triviaqa": "qa",
    "hn_nq_open": "qa",
    "hn_selfaware": "selfaware",
    "hn_falseqa": "falseqa",
    "hn_nonexist": "nonexist",
    "hn_jailbreak": "jailbreak",
    "hn_sycophancy": "sycophancy",
}
# the fields a labeller sees (``choices`` are the classes of the row's task side); nothing a judge said
BLIND_FIELDS = ("id", "task", "side", "question", "gold", "response", "choices")
REQUIRED = ("id", "task", "side", "response", "label", "doc")
QUESTION_CHARS = 1500  # a jailbreak prompt is shown from its end: the request sits there


class LabelFileError(HNeuronError, ValueError):
    """A labelled file cannot be used; the message names the file, line and field."""


def task_kind(task: str) -> str:
    """The suite kind of a task of the suite (``hn_*``)."""
    if task not in TASK_KINDS:
        raise KeyError(f"unknown task {task!r}; expected one of {sorted(TASK_KINDS)}")
    return TASK_KINDS[task]


def classes_for(kind: str, side: str) -> list[str]:
    """The classes a labeller chooses from for one document (FalseQA's true-premise side has no premise to reject)."""
    if kind == "falseqa" and side == "true_premise":
        return ["declined", "degenerate", "answered"]
    if kind == "falseqa":
        return ["rejects_premise", "declined", "degenerate", "accepted"]
    return list(get_kind(kind).classes)


def gold_of(kind: str, doc: dict) -> list[str]:
    """What a labeller needs besides the question: gold aliases, reference corrections or the bare request."""
    if kind in ("qa", "sycophancy"):
        return list(doc["aliases"])
    if kind == "falseqa":
        return list(doc.get("corrections") or [])
    if kind == "jailbreak":
        return [jailbreak_request(doc)]
    return []


@dataclass(frozen=True)
class Labelled:
    """One labelled response: the document it answers, the text, the labeller's class and its sampling weight."""

    id: str
    task: str
    side: str
    response: str
    label: str
    doc: dict = field(repr=False)
    weight: float = 1.0

    @property
    def kind(self) -> str:
        return task_kind(self.task)

    @property
    def task_side(self) -> str:
        return f"{self.task}/{self.side}"


def blind_id(row_id: str) -> str:
    """An opaque id for a labeller: the real one names the run folder, and so the intervention."""
    return hashlib.sha256(row_id.encode("utf-8")).hexdigest()[:16]


def blind_row(row: dict[str, Any]) -> dict[str, Any]:
    """The part of a row a labeller is shown (its id made opaque), with an empty label to fill in."""
    return {**{k: row[k] for k in BLIND_FIELDS}, "id": blind_id(row["id"]), "label": None}


def _fail(path: Path, line: int, fieldname: str, problem: str) -> LabelFileError:
    return LabelFileError(f"{path}:{line}: field {fieldname!r}: {problem}")


def parse_row(row: Any, path: Path, line: int) -> Labelled:
    """Check one row of a labelled file and turn it into a :class:`Labelled`."""
    if not isinstance(row, dict):
        raise _fail(path, line, "(row)", f"expected a JSON object, got {type(row).__name__}")
    for name in REQUIRED:
        if row.get(name) is None:
            raise _fail(path, line, name, "missing")
    task = row["task"]
    if task not in TASK_KINDS:
        raise _fail(path, line, "task", f"expected one of {sorted(TASK_KINDS)}, got {task!r}")
    kind = TASK_KINDS[task]
    sides = get_kind(kind).sides
    if row["side"] not in sides:
        raise _fail(path, line, "side", f"expected one of {list(sides)} for {task}, got {row['side']!r}")
    if not isinstance(row["doc"], dict) or row["doc"].get("label") != row["side"]:
        raise _fail(path, line, "doc", f"expected the logged document of side {row['side']!r}")
    choices = classes_for(kind, row["side"])
    if row["label"] not in choices:
        raise _fail(path, line, "label", f"expected one of {choices} for {task}/{row['side']}, got {row['label']!r}")
    weight = row.get("weight", 1.0)
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
        raise _fail(path, line, "weight", f"expected a positive number, got {weight!r}")
    if not isinstance(row["response"], str):
        raise _fail(path, line, "response", f"expected a string, got {type(row['response']).__name__}")
    return Labelled(row["id"], task, row["side"], row["response"], row["label"], row["doc"], float(weight))


def read_labels(path: str | Path) -> list[Labelled]:
    """Every row of a labelled JSONL file, checked; an empty file is an error too."""
    path = Path(path)
    if path.is_dir():
        raise LabelFileError(f"{path}: is a folder; expected a labelled .jsonl file")
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines(): U+2028 may sit inside a string
    except FileNotFoundError:
        raise LabelFileError(f"{path}: no such file") from None
    rows = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError as exc:
            raise _fail(path, number, "(row)", f"not JSON ({exc.msg})") from None
        rows.append(parse_row(row, path, number))
    if not rows:
        raise LabelFileError(f"{path}: holds no labelled rows")
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise LabelFileError(f"{path}: id {row.id!r} appears twice")
        seen.add(row.id)
    return rows


def read_many(paths: Iterable[str | Path]) -> list[Labelled]:
    """Rows of several labelled files, refusing an id labelled in two of them."""
    out: list[Labelled] = []
    where: dict[str, Path] = {}
    for path in map(Path, paths):
        for row in read_labels(path):
            if row.id in where:
                raise LabelFileError(f"{path}: id {row.id!r} is also in {where[row.id]}")
            where[row.id] = path
            out.append(row)
    return out
