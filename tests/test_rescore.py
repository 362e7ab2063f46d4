"""``hneuron-eval rescore``: the judge a run was scored with reproduces it; another judge rewrites it consistently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hneuron_eval import cli, judges
from hneuron_eval.report.rescore import RescoreError

ROOT = Path(__file__).resolve().parents[1]
MONITOR_RUN = ROOT / "results" / "monitor" / "smollm2-135m-instruct" / "lm_eval"
SUITE_RUN = ROOT / "results" / "tasks" / "gemma-3-270m_fewshot_limit200"


class EverythingDeclined:
    """A whole-response judge that calls every response declined."""

    name = "stub"
    version = "declines-all"

    def classify_response(self, kind: str, doc: dict, text: str) -> str:
        return "declined"


def _results(folder: Path) -> Path:
    (path,) = folder.rglob("results_*.json")
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("run", [MONITOR_RUN, SUITE_RUN], ids=["monitor", "suite"])
def test_the_recorded_judge_reproduces_every_number(tmp_path, run):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = json.loads(_results(copy).read_text())
    versions = {c["metadata"]["hn_judge_version"] for c in before["configs"].values()}
    assert len(versions) == 1
    name, version = versions.pop().split(":", 1)
    judge = judges.get_judge(name)
    assert judge.version == version, "the published run was scored with another judge version than the current one"
    samples = {p.name: p.read_bytes() for p in copy.rglob("samples_*.jsonl")}
    assert cli.main(["rescore", "--in-place", "--judge", name, str(copy)]) == 0
    after = json.loads(_results(copy).read_text())
    assert after["results"] == before["results"] and after.get("groups") == before.get("groups")
    assert {p.name: p.read_bytes() for p in copy.rglob("samples_*.jsonl")} == samples
    assert after["hneuron_rescore"][-1]["judge"] == f"{name}:{version}"


def test_another_judge_rewrites_samples_aggregates_groups_and_versions(tmp_path, monkeypatch):
    from hneuron_eval.report.rescore import rescore

    copy = tmp_path / "run"
    shutil.copytree(SUITE_RUN, copy)
    summary = rescore([copy], EverythingDeclined(), "cmd", "now", ROOT / "tasks")
    data = json.loads(_results(copy).read_text())
    assert data["results"]["hn_triviaqa"]["abstention_rate,none"] == 1.0
    assert data["results"]["hn_triviaqa"]["accuracy,none"] == 0.0
    assert data["results"]["hn_selfaware"]["overcompliance,none"] == 0.0
    assert data["results"]["hn_selfaware"]["over_refusal,none"] == 1.0
    assert data["groups"]["hneuron_overcompliance"]["compliance,none"] == 0.0
    assert data["results"]["hneuron"]["degenerate_rate,none"] == 0.0
    assert {c["metadata"]["hn_judge_version"] for c in data["configs"].values()} == {"stub:declines-all"}
    assert data["hneuron_rescore"][-1]["command"] == "cmd"
    (samples,) = copy.rglob("samples_hn_triviaqa_*.jsonl")
    first = json.loads(samples.read_text().split("\n")[0])
    assert first["abstention_rate"] == 1.0 and first["accuracy"] == 0.0
    assert summary[str(_results(copy))]["hn_triviaqa"]["classes"] == {"declined": 200}


def test_a_run_without_samples_is_refused_untouched(tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(SUITE_RUN, copy)
    next(copy.rglob("samples_hn_jailbreak_*.jsonl")).unlink()
    before = _tree(copy)
    assert cli.main(["rescore", "--in-place", "--judge", "rule", str(copy)]) == 1
    assert "has no logged samples" in capsys.readouterr().err
    assert _tree(copy) == before
    with pytest.raises(RescoreError, match="no such file or folder"):
        from hneuron_eval.report.rescore import rescore

        rescore([tmp_path / "nothing"], judges.RULE, "cmd", "now", ROOT / "tasks")


def test_rescore_into_copies_leaves_the_runs_alone_and_never_overwrites(tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(SUITE_RUN, copy)
    before = _tree(copy)
    with pytest.raises(SystemExit):
        cli.main(["rescore", "--judge", "rule", str(copy)])  # neither --in-place nor --out
    assert "one of the arguments --in-place --out is required" in capsys.readouterr().err
    assert cli.main(["rescore", "--judge", "rule", "--out", str(tmp_path / "re"), str(copy)]) == 0
    assert _tree(copy) == before
    rescored = json.loads(_results(tmp_path / "re" / "run").read_text())
    assert rescored["hneuron_rescore"][-1]["judge"].startswith("rule:")
    assert cli.main(["rescore", "--judge", "rule", "--out", str(tmp_path / "re"), str(copy)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert cli.main(["rescore", "--judge", "rule", "--out", str(copy), str(copy)]) == 1
    assert "would be inside the run" in capsys.readouterr().err
    assert _tree(copy) == before
