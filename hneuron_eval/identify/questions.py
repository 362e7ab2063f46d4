"""Question sets with gold aliases, read with line-numbered errors and counted skips."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hneuron_eval.suite.readers import DataError, data_path, read_jsonl, read_qa_tsv

TRIVIAQA_TRAIN = data_path("triviaqa", "triviaqa_unfiltered_train-heldout.dpr-dev.tsv")
TRIVIAQA_DEV = data_path("triviaqa", "triviaqa_unfiltered_dev.dpr-test.tsv")
NQ_OPEN_DEV = data_path("nq_open", "NQ-open.dev.jsonl")
NEC_UNANSWERABLE = data_path("unknownbench", "NEC", "NEC_unanswerable.json")
NEC_ANSWERABLE = data_path("unknownbench", "NEC", "NEC_answerable.json")


@dataclass(frozen=True)
class Question:
    """One prompt with its gold aliases (empty for sets judged by abstention)."""

    id: str
    question: str
    aliases: tuple[str, ...] = ()
    kind: str = (
        "qa"  # "qa": judged by aliases; "nonexistent": any non-abstaining answer hallucinates; "real": assumed faithful
    )


@dataclass
class QuestionSet:
    """Questions read from one file plus the rows skipped and why."""

    name: str
    path: str
    questions: list[Question]
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def read_dpr_tsv(path: str | Path, name: str, prefix: str) -> QuestionSet:
    """DPR-format TSV: ``question<TAB>['alias', ...]``; rows without a question or answers are counted."""
    out = QuestionSet(name, str(path), [])
    for lineno, question, aliases in read_qa_tsv(path):
        if not question:
            out.skip("empty question")
        elif not aliases:
            out.skip("no answer aliases")
        else:
            out.questions.append(Question(f"{prefix}-{lineno}", question, tuple(aliases)))
    return out


def read_qa_jsonl(path: str | Path, name: str, prefix: str, question_key: str, answer_key: str) -> QuestionSet:
    """JSONL with a question field and a list-of-strings answer field (NQ-Open, BioASQ factoid)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: file not found: {path}")
    out = QuestionSet(name, str(path), [])
    for lineno, rec in read_jsonl(path):
        q, answers = rec.get(question_key), rec.get(answer_key)
        if not isinstance(q, str):
            raise DataError(f"{path}: line {lineno}: field {question_key!r}: expected a string, got {q!r:.60}")
        if answers is None:
            answers = []
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise DataError(
                f"{path}: line {lineno}: field {answer_key!r}: expected a list of strings, got {answers!r:.60}"
            )
        answers = [a for a in answers if a.strip()]
        if not q.strip():
            out.skip("empty question")
        elif not answers:
            out.skip("no answer aliases")
        else:
            out.questions.append(Question(f"{prefix}-{rec.get('id', lineno)}", q.strip(), tuple(answers)))
    return out


def read_nec(unanswerable: str | Path = NEC_UNANSWERABLE, answerable: str | Path = NEC_ANSWERABLE) -> QuestionSet:
    """UnknownBench NEC: prompts about invented entities plus the matched real-entity prompts."""
    out = QuestionSet("unknownbench-nec", f"{unanswerable} + {answerable}", [])
    for path, kind in ((Path(unanswerable), "nonexistent"), (Path(answerable), "real")):
        for lineno, rec in read_jsonl(path):
            prompt = rec.get("prompt")
            if not isinstance(prompt, str):
                raise DataError(f"{path}: line {lineno}: field 'prompt': expected a string, got {prompt!r:.60}")
            if not prompt.strip():
                out.skip("empty prompt")
                continue
            out.questions.append(Question(f"nec-{kind}-{lineno}", prompt.strip(), (), kind))
    return out


def triviaqa_train() -> QuestionSet:
    return read_dpr_tsv(TRIVIAQA_TRAIN, "triviaqa-train-heldout", "tqa-train")


def triviaqa_dev() -> QuestionSet:
    return read_dpr_tsv(TRIVIAQA_DEV, "triviaqa-dev", "tqa-dev")


def nq_open() -> QuestionSet:
    return read_qa_jsonl(NQ_OPEN_DEV, "nq-open-dev", "nq", "question", "answer")


def bioasq(path: str | Path) -> QuestionSet:
    """BioASQ factoid (flattened jsonl with ``question`` and ``answer_aliases``), from a user-given path."""
    return read_qa_jsonl(path, "bioasq-factoid", "bioasq", "question", "answer_aliases")
