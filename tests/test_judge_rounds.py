"""A labelling round's scripts on a published run: a test-only draw, blind chunks dealt twice, labels merged back."""

from __future__ import annotations

import json
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
