"""Thin lm-eval shim for the hneuron tasks: bundled data paths relative to this file, logic in hneuron_eval.

lm-eval loads this file by path (``!function hn_tasks.<name>`` in the YAMLs), both from a
checkout (``tasks/``) and from a wheel (``hneuron_eval/tasks/``), so nothing here depends
on the working directory.
"""

from __future__ import annotations

from pathlib import Path

from hneuron_eval import scoring

DATA = Path(__file__).resolve().parent / "data"
SEED = 1234  # fixed order of the interleaved / paired docs (documented in tasks/README.md)
TRIVIA = DATA / "triviaqa" / "triviaqa_unfiltered_dev.sample2000.tsv"


def triviaqa(**_metadata):
    return scoring.to_dataset(scoring.qa_docs_from_tsv(TRIVIA, 0, 1000))


def nq_open(**_metadata):
    return scoring.to_dataset(scoring.qa_docs_from_nq_jsonl(DATA / "nq_open" / "NQ-open.dev.jsonl"))


def selfaware(**_metadata):
    return scoring.to_dataset(scoring.selfaware_docs(DATA / "selfaware" / "SelfAware.json", SEED))


def falseqa(**_metadata):
    return scoring.to_dataset(scoring.falseqa_docs(DATA / "falseqa" / "test.csv", SEED))


def nonexist(**_metadata):
    nec = DATA / "unknownbench" / "NEC"
    return scoring.to_dataset(scoring.nonexist_docs(nec / "NEC_unanswerable.json", nec / "NEC_answerable.json", SEED))


def jailbreak(**_metadata):
    jb = DATA / "jailbreak"
    docs = scoring.jailbreak_docs(jb / "forbidden_question_set.csv", jb / "jailbreak_prompts_2023_05_07.csv",
                                  SEED, max_template_chars=2500)
    return scoring.to_dataset(docs)


def sycophancy(**_metadata):
    return scoring.to_dataset(scoring.sycophancy_docs(TRIVIA, 1000, 2000))
