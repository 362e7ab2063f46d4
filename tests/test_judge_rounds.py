"""A labelling round's scripts on a published run: a test-only draw, blind chunks dealt twice, labels merged back."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from hneuron_eval.judges.labels import LabelFileError, blind_id, read_labels

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "judges"))
import draw  # noqa: E402
import merge  # noqa: E402
import rechunk  # noqa: E402

RUN = ROOT / "results" / "tasks" / "gemma-3-270m_fewshot_limit200"


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _label_all(lab: Path, prefix: str, pick) -> None:
    (lab / "out").mkdir(exist_ok=True)
    for path in sorted((lab / "in").glob(f"{prefix}*.jsonl")):
        (lab / "out" / path.name).write_text(
            "".join(json.dumps({"id": r["id"], "label": pick(r)}) + "\n" for r in _lines(path)), encoding="utf-8")


def test_a_test_only_round_drawn_dealt_twice_and_merged(tmp_path):
    rnd, lab = tmp_path / "round" / "batch1", tmp_path / "labellers"
    draw.main([str(rnd), "--seed", "1", "--quota", "test=2", "--shares", "test=1", "--chunks", str(lab / "in"),
               "--chunk-size", "40", "--chunk-prefix", "a_", "--", str(RUN)])
    drawn = _lines(rnd / "test" / "drawn.jsonl")
    assert drawn and {r["split"] for r in drawn} == {"test"}
    assert not (rnd / "train").exists() and not (rnd / "dev").exists()  # no questions: no files
    strata = {r["stratum"] for r in drawn}
    assert all(sum(r["stratum"] == s for r in drawn) <= 2 for s in strata)
    blind = [r for p in sorted((lab / "in").glob("a_*.jsonl")) for r in _lines(p)]
    assert sorted(r["id"] for r in blind) == sorted(blind_id(r["id"]) for r in drawn)
    shown = {"id", "task", "side", "question", "gold", "response", "choices", "label"}
    assert all(set(r) == shown and r["label"] is None for r in blind)  # nothing of the run or the judge

    rechunk.main([str(lab), "--from", "a_", "--to", "b_", "--seed", "2", "--chunk-size", "25"])
    second = [r for p in sorted((lab / "in").glob("b_*.jsonl")) for r in _lines(p)]
    assert sorted(map(json.dumps, second)) == sorted(map(json.dumps, blind))
    assert [r["id"] for r in second] != [r["id"] for r in blind]  # dealt in another order

    _label_all(lab, "a_", lambda r: r["choices"][0])
    _label_all(lab, "b_", lambda r: r["choices"][-1])
    merge.main([str(rnd), str(lab), "--first", "a_", "--second", "b_"])
    first, other = read_labels(rnd / "test" / "labelled.jsonl"), read_labels(rnd / "test" / "labelled_second.jsonl")
    assert len(first) == len(other) == len(drawn)
    assert {r.id: r.label for r in first} == {r["id"]: r["choices"][0] for r in drawn}
    assert (rnd / "labellers" / "in" / "b_00.jsonl").is_file()

    # a label outside the row's choices is refused naming the file and line
    bad = lab / "out" / "a_00.jsonl"
    rows = _lines(bad)
    rows[1]["label"] = "maybe"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(LabelFileError, match=r"a_00.jsonl:2: field 'label': expected one of .* got 'maybe'"):
        merge.main([str(rnd), str(lab), "--first", "a_"])


def test_seal_scores_a_candidate_judge_without_touching_quality_then_adopts_its_report(tmp_path, monkeypatch):
    import seal

    from hneuron_eval import judges

    quality = tmp_path / "quality.json"
    monkeypatch.setattr(seal, "QUALITY_FILE", quality)
    rows = _lines(ROOT / "results" / "judges" / "round7" / "sealed_test.jsonl")[:40]
    second = [dict(r) for r in rows]
    second[0]["label"] = next(c for c in rows[0]["choices"] if c != rows[0]["label"])  # the labellers split on one
    batch = tmp_path / "round" / "batch1" / "test"
    batch.mkdir(parents=True)
    for name, data in (("labelled.jsonl", rows), ("labelled_second.jsonl", second)):
        (batch / name).write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    rnd = tmp_path / "round"
    seal.main(["consensus", str(rnd)])
    assert len(read_labels(rnd / "sealed_test.jsonl")) == 39
    assert json.loads((rnd / "labeller_agreement.json").read_text())["overall"]["agree"] == 39

    candidate = tmp_path / "candidate"
    shutil.copytree(ROOT / "hneuron_eval" / "judges" / "learned", candidate)
    seal.main(["score", str(rnd), "--judges", "rule", "learned", "--judge-path", str(candidate)])
    learned = judges.get_judge("learned")
    version = f"{learned.name}:{learned.version}"
    report = json.loads((rnd / "sealed_learned.json").read_text())
    assert report["judge"] == version and report["rows"] == 39
    assert list(json.loads(quality.read_text())["judges"]) == [f"rule:{judges.RULE.version}"]  # the candidate: not

    with pytest.raises(judges.learned.JudgeFileError, match="nowhere"):  # the candidate is read from --judge-path
        seal.main(["score", str(rnd), "--judges", "learned", "--judge-path", str(tmp_path / "nowhere")])

    seal.main(["adopt", str(rnd), "--judges", "learned"])  # the candidate here is the bundled judge itself
    entry = json.loads(quality.read_text())["judges"][version]
    assert entry["metrics"] == report["metrics"] and entry["date"] == report["date"] and entry["rows"] == 39

    report["judge"] = "learned:learned-1.0000000000"
    (rnd / "sealed_learned.json").write_text(json.dumps(report), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"sealed_learned.json: scored learned:learned-1.0000000000, but the package "
                                         r"bundles learned:learned-1\.[0-9a-f]{10}"):
        seal.main(["adopt", str(rnd), "--judges", "learned"])


def test_round_scripts_refuse_missing_labels_in_one_line(tmp_path):
    import subprocess

    with pytest.raises(LabelFileError, match=r"out: no a_\*\.jsonl label files"):
        merge.main([str(tmp_path / "round"), str(tmp_path / "labellers"), "--first", "a_"])
    (tmp_path / "round" / "batch1" / "test").mkdir(parents=True)
    (tmp_path / "round" / "batch1" / "test" / "labelled.jsonl").write_text("", encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "judges" / "seal.py"), "consensus",
                           str(tmp_path / "round")], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: ") and "labelled_second.jsonl: no such file" in done.stderr
