"""``custom_dataset`` for users' own tasks: a JSONL file of questions of one registered kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hneuron_eval.suite.data import faitheval_docs, make_doc, str_field, str_list, to_dataset
from hneuron_eval.suite.kinds import KINDS
from hneuron_eval.suite.readers import DataError, read_jsonl


def load_user_jsonl(hn_data_file: str, hn_kind: str, config_source: str | None = None, **_metadata: Any):
    """A JSONL next to the YAML (or an absolute path), kept in file order.

    Each line is ``{"question": ..., "answers": [...]}`` for ``qa``/``sycophancy``,
    ``{"question": ..., "label": <side>}`` for the paired kinds (sides in ``KINDS[kind].sides``), and
    FaithEval's ``{"context", "question", "choices": {"label", "text"}, "answerKey"}`` for ``faitheval``.
    """
    if hn_kind not in KINDS:
        raise ValueError(f"unknown task kind {hn_kind!r}; expected one of {list(KINDS)}")
    kind = KINDS[hn_kind]
    path = Path(hn_data_file).expanduser()
    if not path.is_absolute():
        if not config_source or config_source == "inline":
            raise DataError(f"{hn_data_file}: a relative hn_data_file needs the YAML's location; give an absolute path")
        path = Path(config_source).resolve().parent / path
    if hn_kind == "faitheval":
        return to_dataset(faitheval_docs([(f"{path}:{lineno}", obj) for lineno, obj in read_jsonl(path)]))
    docs = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        question = str_field(obj, "question", where)
        label = obj.get("label", kind.sides[0])
        if label not in kind.sides:
            raise DataError(f"{where}: label: expected one of {list(kind.sides)} for kind {hn_kind!r}, got {label!r}")
        if kind.needs_answers:
            answers = str_list(obj.get("answers"), where, "answers")
            docs.append(make_doc(question, label, answers[0], where, answers))
        else:
            docs.append(
                make_doc(
                    question,
                    label,
                    label,
                    where,
                    request=question if hn_kind == "jailbreak" else "",
                    corrections=str_list(obj["corrections"], where, "corrections") if "corrections" in obj else (),
                )
            )
    return to_dataset(docs)
