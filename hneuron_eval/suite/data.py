"""Document loaders of the task suite: one schema for every task, seeded order, errors that say where."""

from __future__ import annotations

import ast
import csv
import functools
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hneuron_eval.judges.answers import canonical_answer
from hneuron_eval.suite.readers import DataError, data_path, read_jsonl, read_qa_tsv

SEED = 1234  # fixed order of the interleaved / paired docs (documented in tasks/README.md)
TRIVIA_DEV = ("triviaqa", "triviaqa_unfiltered_dev.dpr-test.tsv")
TRIVIA_SAMPLE = ("triviaqa", "sample2000.source_lines.txt")


def str_list(value: Any, where: str, field: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise DataError(f"{where}: {field}: expected a non-empty list of strings, got {value!r:.80}")
    return value


def str_field(row: dict, field: str, where: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: {field}: expected a non-empty string, got {value!r:.80}")
    return value.strip()


def read_csv_rows(path: str | Path, required: Sequence[str]) -> list[tuple[int, dict]]:
    """Read a CSV with header as ``(line number, row)``; a missing column or short row raises."""
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}:1: header: expected columns {list(required)}, missing {missing}")
        rows = []
        for row in reader:
            if None in row or any(row.get(c) is None for c in required):
                raise DataError(
                    f"{path}:{reader.line_num}: expected {len(reader.fieldnames)} columns, got a different count"
                )
            rows.append((reader.line_num, row))
    return rows


def interleave(groups: Sequence[list[dict]], seed: int) -> list[dict]:
    """Shuffle each group with ``seed`` and alternate them, so any ``--limit`` prefix mixes all groups."""
    rng = random.Random(seed)
    shuffled = []
    for group in groups:
        group = list(group)
        rng.shuffle(group)
        shuffled.append(group)
    out = []
    for i in range(max((len(g) for g in shuffled), default=0)):
        out.extend(g[i] for g in shuffled if i < len(g))
    return out


def make_doc(
    question: str,
    label: str,
    target: str,
    source: str,
    aliases: Sequence[str] = (),
    category: str = "",
    request: str = "",
    corrections: Sequence[str] = (),
) -> dict:
    """One schema for every task, so ``datasets.Dataset.from_list`` and the shared prompts work.

    ``request`` is the bare harmful request inside a jailbreak prompt; ``corrections`` are
    FalseQA's reference answers that correct a false premise.
    """
    return {
        "question": question,
        "label": label,
        "target": target,
        "aliases": list(aliases),
        "category": category,
        "source": source,
        "request": request,
        "corrections": list(corrections),
    }


def qa_docs_from_tsv(path: str | Path, lines: Sequence[int] | None = None) -> list[dict]:
    """Short-answer QA docs from a DPR TSV: the given 1-based lines in that order, else every line."""
    rows = {lineno: (q, a) for lineno, q, a in read_qa_tsv(path)}
    docs = []
    for lineno in rows if lines is None else lines:
        if lineno not in rows:
            raise DataError(f"{path}: line {lineno} does not exist (file has {len(rows)} lines)")
        question, aliases = rows[lineno]
        where = f"{Path(path).name}:{lineno}"
        if not question or not aliases:
            raise DataError(f"{path}:{lineno}: expected a question and at least one answer alias")
        docs.append(make_doc(question, "answerable", canonical_answer(aliases), where, aliases))
    return docs


def trivia_sample(start: int, stop: int) -> list[dict]:
    """Rows ``start:stop`` of the seeded 2,000-question TriviaQA dev sample (``data/triviaqa/SAMPLE.md``)."""
    listing = data_path(*TRIVIA_SAMPLE)
    lines = []
    for lineno, text in enumerate(listing.read_text(encoding="utf-8").split("\n"), start=1):
        if text.strip():
            if not text.strip().isdigit():
                raise DataError(f"{listing}:{lineno}: expected a line number, got {text!r:.40}")
            lines.append(int(text))
    return qa_docs_from_tsv(data_path(*TRIVIA_DEV), lines[start:stop])


def qa_docs_from_nq_jsonl(path: str | Path) -> list[dict]:
    """Short-answer QA docs from NQ-Open JSONL (``question``, ``answer`` list)."""
    docs = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        question = str_field(obj, "question", where)
        answers = str_list(obj.get("answer"), where, "answer")
        if not question.endswith("?"):
            question += "?"
        docs.append(make_doc(question, "answerable", answers[0], f"{Path(path).name}:{lineno}", answers))
    return docs


def selfaware_docs(path: str | Path, seed: int) -> list[dict]:
    """SelfAware docs, unanswerable and answerable interleaved (seeded)."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        try:
            records = json.load(f)["example"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:1: expected a JSON object with an 'example' list ({exc!r})") from None
    groups: dict[bool, list[dict]] = {True: [], False: []}
    for i, rec in enumerate(records):
        where = f"{path}: example[{i}]"
        if not isinstance(rec, dict) or not isinstance(rec.get("answerable"), bool):
            raise DataError(f"{where}: answerable: expected true/false, got {rec!r:.80}")
        question = str_field(rec, "question", where)
        source = f"{path.name}#{rec.get('question_id')}"
        if rec["answerable"]:
            answers = str_list(rec.get("answer"), where, "answer")
            groups[True].append(make_doc(question, "answerable", answers[0], source, answers))
        else:
            groups[False].append(make_doc(question, "unanswerable", "(unanswerable)", source))
    return interleave([groups[False], groups[True]], seed)


def references(text: str) -> list[str]:
    """FalseQA's answer column: a Python list literal of reference answers, or one plain answer."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [text] if text.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return [text]


def falseqa_docs(path: str | Path, seed: int) -> list[dict]:
    """FalseQA docs (label 1 = false premise), false and true premises interleaved (seeded)."""
    groups: dict[str, list[dict]] = {"1": [], "0": []}
    for lineno, row in read_csv_rows(path, ("question", "answer", "label")):
        where = f"{path}:{lineno}"
        label = row["label"].strip()
        if label not in groups:
            raise DataError(f"{where}: label: expected 0 or 1, got {row['label']!r}")
        question = str_field(row, "question", where)
        if label == "1":
            groups[label].append(
                make_doc(
                    question,
                    "false_premise",
                    row["answer"][:300],
                    f"{Path(path).name}:{lineno}",
                    corrections=references(row["answer"]),
                )
            )
        else:
            groups[label].append(make_doc(question, "true_premise", row["answer"][:300], f"{Path(path).name}:{lineno}"))
    return interleave([groups["1"], groups["0"]], seed)


def nonexist_docs(unanswerable: str | Path, answerable: str | Path, seed: int) -> list[dict]:
    """UnknownBench NEC docs: made-up entities (label 1) interleaved with real-entity twins (label 0)."""
    groups = []
    for path, want, kind in ((unanswerable, 1, "nonexistent"), (answerable, 0, "real")):
        docs = []
        for lineno, obj in read_jsonl(path):
            where = f"{path}:{lineno}"
            if obj.get("label") != want:
                raise DataError(f"{where}: label: expected {want}, got {obj.get('label')!r}")
            question = str_field(obj, "prompt", where)
            docs.append(
                make_doc(question, kind, kind, f"{Path(path).name}:{lineno}", category=str(obj.get("category", "")))
            )
        groups.append(docs)
    return interleave(groups, seed)


HARMFUL_POLICIES = ("0", "2", "3", "4", "5", "6", "7", "9")  # excludes lobbying/legal/financial/health/gov advice
INSERT_MARK = "[INSERT PROMPT HERE]"
FORBIDDEN = ("jailbreak", "forbidden_question_set.csv")
TEMPLATES = ("jailbreak", "jailbreak_prompts_2023_05_07.csv")


def jailbreak_docs(questions: str | Path, templates: str | Path, seed: int, max_template_chars: int) -> list[dict]:
    """Forbidden questions (clearly harmful policies) each paired with one seeded jailbreak template."""
    pool, rows = [], read_csv_rows(templates, ("prompt", "jailbreak"))
    for lineno, row in rows:
        text = row["prompt"].strip()
        if text and len(text) <= max_template_chars:
            pool.append((lineno, text))
    if not pool:
        raise DataError(f"{templates}: no jailbreak template of at most {max_template_chars} characters")
    rng = random.Random(seed)
    docs, skipped = [], 0
    for lineno, row in read_csv_rows(questions, ("content_policy_id", "content_policy_name", "question")):
        if row["content_policy_id"].strip() not in HARMFUL_POLICIES:
            skipped += 1
            continue
        question = str_field(row, "question", f"{questions}:{lineno}")
        t_line, template = pool[rng.randrange(len(pool))]
        prompt = template.replace(INSERT_MARK, question) if INSERT_MARK in template else f"{template}\n\n{question}"
        source = f"{Path(questions).name}:{lineno}+{Path(templates).name}:{t_line}"
        docs.append(
            make_doc(prompt, "harmful", "(refuse)", source, category=row["content_policy_name"], request=question)
        )
    rng.shuffle(docs)
    print(
        f"hneuron-eval: jailbreak: kept {len(docs)} forbidden questions, skipped {skipped} from not clearly harmful "
        f"policies; {len(pool)} of {len(rows)} templates are non-empty and <= {max_template_chars} characters",
        file=sys.stderr,
    )
    return docs


@functools.lru_cache(maxsize=1)
def _forbidden_by_line() -> dict[str, str]:
    path = data_path(*FORBIDDEN)
    return {f"{path.name}:{lineno}": row["question"].strip() for lineno, row in read_csv_rows(path, ("question",))}


def jailbreak_request(doc: dict) -> str:
    """The bare request of a jailbreak doc; docs logged before the field existed are looked up by source."""
    if doc.get("request"):
        return doc["request"]
    key = str(doc.get("source", "")).split("+", 1)[0]
    if key not in _forbidden_by_line():
        raise DataError(
            f"jailbreak doc has no 'request' and its source {doc.get('source')!r} names no bundled question"
        )
    return _forbidden_by_line()[key]


def sycophancy_docs(docs: list[dict]) -> list[dict]:
    """QA docs for the 'are you sure?' protocol; ``target`` (canonical alias) is the prefilled first answer."""
    return [{**d, "label": "challenge"} for d in docs]


FAITHEVAL_HUB = "Salesforce/FaithEval-counterfactual-v1.0"


def faitheval_docs(rows: Sequence[tuple[str, dict]]) -> list[dict]:
    """FaithEval counterfactual rows (``where``, row) as docs; ``target`` is the option the context supports."""
    docs = []
    for where, row in rows:
        choices = row.get("choices")
        if not isinstance(choices, dict):
            raise DataError(f"{where}: choices: expected an object with 'label' and 'text' lists, got {choices!r:.80}")
        labels = str_list(choices.get("label"), where, "choices.label")
        texts = str_list(choices.get("text"), where, "choices.text")
        if len(labels) != len(texts):
            raise DataError(f"{where}: choices: {len(labels)} labels but {len(texts)} texts")
        key = str_field(row, "answerKey", where)
        if key not in labels:
            raise DataError(f"{where}: answerKey: expected one of {labels}, got {key!r}")
        doc = make_doc(str_field(row, "question", where), "counterfactual", key, str(row.get("id", where)))
        docs.append({**doc, "context": str_field(row, "context", where), "choice_labels": labels,
                     "choice_texts": texts})
    return docs


def load_faitheval(path: str | Path | None = None) -> list[dict]:
    """FaithEval counterfactual docs from a local JSONL copy, else from the Hugging Face Hub (not bundled)."""
    if path is not None:
        return faitheval_docs([(f"{path}:{line}", row) for line, row in read_jsonl(path)])
    try:
        import datasets

        rows = datasets.load_dataset(FAITHEVAL_HUB, split="test")
    except Exception as exc:  # offline, no cache, no access: one message that says what to do
        raise DataError(
            f"hn_faitheval: {FAITHEVAL_HUB} could not be loaded from the Hugging Face Hub ({type(exc).__name__}: "
            f"{str(exc)[:200]}). It is not bundled with hneuron-eval. With hub access it loads by itself; offline, "
            "pass a local copy with --metadata '{\"hn_faitheval_path\": \"FILE.jsonl\"}' (one JSON object per line: "
            "id, context, question, choices {label, text}, answerKey)") from None
    return faitheval_docs([(f"{FAITHEVAL_HUB} test row {i}", dict(row)) for i, row in enumerate(rows)])


def to_dataset(docs: list[dict]):
    """Wrap docs as the ``{"test": Dataset}`` mapping lm-eval's ``custom_dataset`` must return."""
    import datasets

    if not docs:
        raise DataError("no documents were loaded")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})
