"""Thin lm-eval shim for the hneuron tasks: each ``custom_dataset`` names a loader here; logic lives in hneuron_eval.

lm-eval loads this file by path (``!function hn_tasks.<name>`` in the YAMLs), both from a
checkout (``tasks/``) and from a wheel (``hneuron_eval/tasks/``). The data are bundled in
the package (``hneuron_eval/data/``), so nothing here depends on the working directory.
"""

from __future__ import annotations

from hneuron_eval.suite import data as D
from hneuron_eval.suite.readers import data_path


def triviaqa(**_metadata):
    return D.to_dataset(D.trivia_sample(0, 1000))


def nq_open(**_metadata):
    return D.to_dataset(D.qa_docs_from_nq_jsonl(data_path("nq_open", "NQ-open.dev.jsonl")))


def selfaware(**_metadata):
    return D.to_dataset(D.selfaware_docs(data_path("selfaware", "SelfAware.json"), D.SEED))


def falseqa(**_metadata):
    return D.to_dataset(D.falseqa_docs(data_path("falseqa", "test.csv"), D.SEED))


def nonexist(**_metadata):
    return D.to_dataset(
        D.nonexist_docs(
            data_path("unknownbench", "NEC", "NEC_unanswerable.json"),
            data_path("unknownbench", "NEC", "NEC_answerable.json"),
            D.SEED,
        )
    )


def jailbreak(**_metadata):
    return D.to_dataset(
        D.jailbreak_docs(data_path(*D.FORBIDDEN), data_path(*D.TEMPLATES), D.SEED, max_template_chars=2500)
    )


def sycophancy(**_metadata):
    return D.to_dataset(D.sycophancy_docs(D.trivia_sample(1000, 2000)))


def faitheval(hn_faitheval_path: str | None = None, **_metadata):
    return D.to_dataset(D.load_faitheval(hn_faitheval_path))
