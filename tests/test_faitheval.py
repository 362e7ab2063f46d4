"""hn_faitheval: the choice parser, the kind's classes, loading from a local copy, and the no-hub error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hneuron_eval import judges
from hneuron_eval.suite import kinds, prompts
from hneuron_eval.suite.choices import parse_choice
from hneuron_eval.suite.data import DataError, load_faitheval

MINI = Path(__file__).parent / "data" / "faitheval_mini.jsonl"
LABELS, TEXTS = ["A", "B", "C", "D"], ["Hot water", "Cold water", "Salt water", "It does not dissolve"]


@pytest.mark.parametrize("text, picked", [
    ("B", ("B", "letter")), ("(B)", ("B", "letter")), ("B.", ("B", "letter")), ("b) Cold water", ("B", "letter")),
    ("Answer: C", ("C", "letter")), ("The correct answer is D.", ("D", "letter")), ("**A**", ("A", "letter")),
    ("B\n\nContext: ...", ("B", "letter")),
    ("Salt dissolves faster in cold water.", ("B", "text")), ("A cold water tap", ("B", "text")),
    ("Either hot water or cold water", (None, "several options")), ("I am not sure.", (None, "no option")),
])
def test_a_choice_is_read_by_its_letter_or_its_text(text, picked):
    assert parse_choice(text, LABELS, TEXTS) == picked


def test_classes_follow_the_context_or_not_whatever_the_judge():
    doc = load_faitheval(MINI)[2]
    assert doc["target"] == "B" and doc["choice_texts"] == TEXTS and doc["label"] == "counterfactual"
    for judge in (judges.get_judge("learned"), judges.get_judge("rule")):
        got = [kinds.classify("faitheval", doc, [t], judge) for t in
               ("B", "Hot water.", "I don't know.", "the the the the the the the the", "Hmm.")]
        assert got == ["follows_context", "other_choice", "declined", "degenerate", "unparsed"]
    assert kinds.score("faitheval", doc, ["B"], judges.get_judge()) == {
        "context_following": 1.0, "compliance": 1.0, "unparsed_rate": 0.0, "degenerate_rate": 0.0}


def test_task_loads_a_local_copy_and_scores_context_following():
    from lm_eval.tasks import TaskManager

    task = TaskManager(metadata={"hn_faitheval_path": str(MINI)}).load_task_or_group(["hn_faitheval"])["hn_faitheval"]
    docs = list(task.test_docs())
    assert len(docs) == 3 and docs[0]["target"] == "B"
    base = task.fewshot_context(docs[1], 0)
    assert base.endswith("D. Wind turbines\nAnswer:") and "captured lightning" in base and \
        base.startswith(prompts.choice_block(prompts.CHOICE_SHOT))
    assert [m["metric"] for m in task.config.metric_list] == list(kinds.get_kind("faitheval").metrics)
    assert task.process_results(docs[1], ["C. Captured lightning"])["context_following"] == 1.0
    assert task.process_results(docs[1], ["Diesel generators"])["context_following"] == 0.0


def test_without_the_hub_one_clear_message(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match=r"Salesforce/FaithEval-counterfactual-v1.0 could not be loaded from the "
                                        r"Hugging Face Hub .*hn_faitheval_path"):
        load_faitheval()


def test_bad_rows_are_refused_naming_file_line_and_field(tmp_path):
    rows = [json.loads(line) for line in MINI.read_text().splitlines()]
    rows[1]["answerKey"] = "E"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: answerKey: expected one of \['A', 'B', 'C', 'D'\], got 'E'"):
        load_faitheval(bad)
    rows[1]["answerKey"], rows[1]["choices"] = "B", {"label": ["A", "B"], "text": ["x"]}
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: choices: 2 labels but 1 texts"):
        load_faitheval(bad)


def test_a_users_own_multiple_choice_file_is_a_faitheval_task():
    from hneuron_eval.suite.userdata import load_user_jsonl

    docs = load_user_jsonl(str(MINI), "faitheval")["test"]
    assert len(docs) == 3 and docs[1]["choice_texts"][2] == "Captured lightning" and docs[1]["target"] == "C"
