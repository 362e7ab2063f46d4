"""Identification pipeline: resume, disjointness, balance errors, refusal of foreign artifacts, tiny end to end."""

from __future__ import annotations

import numpy as np
import pytest
from identify_fixtures import tiny_llama, tiny_tokenizer

from hneuron_eval.core.fileio import ArtifactMismatchError
from hneuron_eval.identify import questions as D
from hneuron_eval.identify.jsonl import append_records, read_records
from hneuron_eval.identify.sampling import Sampler, SamplingConfig, label_of
from hneuron_eval.identify.splits import OverlapError, TooFewSamplesError, balance, check_disjoint
from hneuron_eval.identify.store import FeatureStore
from hneuron_eval.judges import normalize_answer

QUESTIONS = [D.Question(f"q-{i}", f"what is the capital of france {'?' * (i % 3 + 1)}", ("paris",)) for i in range(10)]


def _sampler(samples=2, batch_size=4):
    tok = tiny_tokenizer(chat=True)
    return Sampler(
        tiny_llama(vocab_size=len(tok)), tok, SamplingConfig(samples=samples, batch_size=batch_size, max_new_tokens=6)
    )


def test_sampling_resumes_after_interruption_and_matches_uninterrupted(tmp_path, monkeypatch):
    full = _sampler().run(QUESTIONS, tmp_path / "full.jsonl")
    s = _sampler()
    real, calls = s.generate, []

    def dying(prompts, seed):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(prompts, seed)

    monkeypatch.setattr(s, "generate", dying)
    with pytest.raises(KeyboardInterrupt):
        s.run(QUESTIONS, tmp_path / "part.jsonl")
    assert len(read_records(tmp_path / "part.jsonl")) == 4  # one batch written, the interrupted one lost
    with open(tmp_path / "part.jsonl", "a") as f:
        f.write('{"id": "q-4", "trunc')  # a torn line from a kill mid-write
    monkeypatch.undo()
    resumed = _sampler().run(QUESTIONS, tmp_path / "part.jsonl")
    assert [r["id"] for r in resumed] == [q.id for q in QUESTIONS]
    assert [[x["ids"] for x in r["responses"]] for r in resumed] == [[x["ids"] for x in r["responses"]] for r in full]
    assert len(read_records(tmp_path / "part.jsonl")) == 10


def test_records_have_judged_samples(tmp_path):
    recs = _sampler(samples=3).run(QUESTIONS[:2], tmp_path / "s.jsonl")
    for r in recs:
        assert len(r["responses"]) == 3 and r["prompt_ids"]
        assert r["label"] == label_of([x["judgement"] for x in r["responses"]])
        for x in r["responses"]:
            words = [w for w in x["text"].split() if w not in ("the", "a", "?", ".", ":")]
            expected = "correct" if "paris" in words else "abstain" if not words else "wrong"
            assert x["judgement"] == expected or "know" in words
            assert 1 not in x["ids"]  # cut at EOS


def test_records_keep_unicode_line_separators_inside_strings(tmp_path):
    recs = [{"id": "a", "text": "x\x85y\u2028z\u2029"}, {"id": "b", "text": "plain"}]
    append_records(tmp_path / "r.jsonl", recs)
    assert read_records(tmp_path / "r.jsonl") == recs


def test_records_bad_middle_line_or_missing_id_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "tru\n{"id": "c"}\n')
    with pytest.raises(ValueError, match=r"r\.jsonl:2: .*invalid JSON.*delete the file"):
        read_records(path)
    path.write_text('{"id": "a"}\n{"text": "no id"}\n')
    with pytest.raises(ValueError, match=r"r\.jsonl:2: expected an object with an 'id' field"):
        read_records(path)


def test_label_of_consistency_filter():
    assert label_of(["correct"] * 3) == "faithful"
    assert label_of(["wrong"] * 3) == "hallucinated"
    assert label_of(["correct", "wrong", "correct"]) == "mixed"
    assert label_of(["wrong", "abstain"]) == "abstained"


def _rec(i, label, question=None):
    return {"id": f"x-{i}", "question": question or f"question {i}", "label": label, "responses": [{"ids": [5, 6]}]}


def test_balance_is_balanced_and_counts_drops():
    recs = (
        [_rec(i, "faithful") for i in range(3)] + [_rec(i, "hallucinated") for i in range(3, 10)] + [_rec(10, "mixed")]
    )
    out = balance(recs, seed=0)
    assert out["per_class"] == 3 and len(out["hallucinated"]) == 3
    assert out["dropped"] == {"mixed": 1, "abstained": 0, "empty_response": 0, "not_needed_for_balance": 4}


def test_too_few_samples_error_states_counts_and_fix():
    recs = [_rec(0, "faithful")] + [_rec(i, "hallucinated") for i in range(1, 30)] + [_rec(30, "abstained")]
    with pytest.raises(
        TooFewSamplesError,
        match=r"found 1 faithful and 29 hallucinated .*1 with an abstention.*at least 20.*more --questions",
    ):
        balance(recs, 0, None, 20, "train set", "Use more --questions or fewer --samples.")


def test_disjointness_check():
    check_disjoint([_rec(0, "faithful")], [_rec(1, "faithful")])
    with pytest.raises(OverlapError):
        check_disjoint([_rec(0, "faithful", "Who is it?")], [_rec(1, "faithful", "who is it")])


def test_bundled_train_and_test_questions_are_disjoint():
    from hneuron_eval.identify.run import IdentifyRun, RunConfig

    run = IdentifyRun.__new__(IdentifyRun)  # only the question selection, no model
    run.config = RunConfig(model="x", questions=20000, test_questions=20000)
    train, _ = run.train_questions()
    test, src = run.test_questions()
    assert len(train) == 8837 and len(test) == 11313 - 8
    assert src.skipped == {"same question text in the train file": 8}
    assert not {normalize_answer(q.question) for q in train} & {normalize_answer(q.question) for q in test}
    run.config = RunConfig(model="x", questions=50)
    assert [q.id for q in run.train_questions()[0]] == [q.id for q in train[:50]]  # smaller runs take a prefix


def test_rows_without_answers_are_counted(tmp_path):
    p = tmp_path / "qa.tsv"
    p.write_text("Who?\t['A']\nWhat?\t[]\nWhere?\t['']\n", encoding="utf-8")
    qs = D.read_dpr_tsv(p, "t", "t")
    assert len(qs.questions) == 1 and qs.skipped == {"no answer aliases": 2}
    p.write_text("Who?\tnot a list\n", encoding="utf-8")
    with pytest.raises(D.DataError, match=r"qa.tsv:1: answers: expected a Python list literal"):
        D.read_dpr_tsv(p, "t", "t")


IDENT = {"model": "m", "num_layers": 2, "d_ff": 3, "run_id": "r1"}


def test_feature_store_resumes_and_refuses_foreign_run(tmp_path):
    store = FeatureStore(tmp_path / "f")
    data = np.arange(10 * 6, dtype=np.float32).reshape(10, 6)
    store.create_or_resume(IDENT, [str(i) for i in range(10)], {"labels": [0] * 10}, 6, "float32")
    calls = []

    def compute(index):
        calls.append(index)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return data[index], -data[index]

    with pytest.raises(KeyboardInterrupt):
        store.fill(10, 4, compute)
    assert store.completed() == 8
    with pytest.raises(RuntimeError, match="only 8 of 10"):
        store.load(IDENT)
    assert store.create_or_resume(IDENT, [str(i) for i in range(10)], {"labels": [0] * 10}, 6, "float32") == 8
    store.fill(10, 4, lambda index: (data[index], -data[index]))
    _, ans, oth = store.load(IDENT)
    np.testing.assert_array_equal(ans, data)
    np.testing.assert_array_equal(oth, -data)
    # an order given at creation: rows are computed in it, written in place, and a resume keeps to it
    order = [9, 2, 7, 0, 5, 1, 8, 3, 6, 4]
    ordered, seen = FeatureStore(tmp_path / "o"), []
    ordered.create_or_resume(IDENT, [str(i) for i in range(10)], {}, 6, "float32", order)

    def dying(index):
        seen.append(list(index))
        if len(seen) == 2:
            raise KeyboardInterrupt
        return data[index], -data[index]

    with pytest.raises(KeyboardInterrupt):
        ordered.fill(10, 4, dying)
    ordered.fill(10, 4, dying)
    assert seen == [order[:4], order[4:8], order[4:8], order[8:]]
    np.testing.assert_array_equal(ordered.load(IDENT)[1], data)
    with pytest.raises(ValueError, match="permutation"):
        FeatureStore(tmp_path / "bad").create_or_resume(IDENT, ["a", "b"], {}, 6, "float32", [0, 0])
    with pytest.raises(ArtifactMismatchError, match=r"made for model 'm'.*this run uses model 'other'"):
        store.load({**IDENT, "model": "other"})
    with pytest.raises(ArtifactMismatchError, match="run_id"):
        store.load({**IDENT, "run_id": "r2"})


def test_feature_store_float16_and_changed_request_refused(tmp_path):
    store = FeatureStore(tmp_path / "f")
    x = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    store.create_or_resume(IDENT, list("abcde"), {}, 7, "float16")
    store.fill(5, 2, lambda index: (x[index], 2 * x[index]))
    _, ans, oth = store.load(IDENT)
    assert ans.dtype == np.float16
    np.testing.assert_allclose(ans, x, rtol=1e-3)
    np.testing.assert_allclose(oth, 2 * x, rtol=1e-3)
    with pytest.raises(ArtifactMismatchError, match="delete"):
        store.create_or_resume(IDENT, list("abcde"), {}, 7, "float32")


def test_an_out_that_is_a_file_is_refused_untouched(tmp_path):
    from hneuron_eval.identify.run import IdentifyRun, RunConfig

    target = tmp_path / "afile"
    target.write_text("keep me")
    with pytest.raises(ArtifactMismatchError, match=r"--out .*afile is a file; give a folder"):
        IdentifyRun.create_or_open(target, RunConfig(model="smollm2-135m-instruct"))
    assert target.read_text() == "keep me"
