"""``hneuron-eval leaderboard``: paired tests, correction, slopes and files, from lm-eval output folders alone."""

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest, false_discovery_control

from hneuron_eval.cli import main
from hneuron_eval.report.leaderboard import build_leaderboard
from hneuron_eval.report.types import Change, Untested

N = 40


def write_run(folder: Path, stamp: str, values: dict[str, list[float]], *, kind: str = "none", alpha=None, seed=None,
              samples: bool = True, version: str = "0.4.13", chat: bool = False, model: str = "tiny-model") -> Path:
    """An lm-eval output folder: task t1 (rate, lower is better) and t2 (acc), group g = mean of their 'score'."""
    hneuron = None
    if kind != "none":
        hneuron = {"mask": "m.hneurons.json", "mask_sha256": "ab" * 32, "alpha": alpha, "default_alpha": 0.0,
                   "mask_method": "random-control" if kind == "random" else "h-neurons", "mask_seed": seed}
    means = {t: float(np.mean(v)) for t, v in values.items()}
    results = {
        "t1": {"alias": "t1", "rate,none": means["t1"], "rate_stderr,none": 0.05, "score,none": means["t1"],
               "score_stderr,none": 0.05},
        "t2": {"alias": "t2", "acc,none": means["t2"], "acc_stderr,none": 0.04, "score,none": means["t2"],
               "score_stderr,none": 0.04},
        "g": {"alias": "g", "score,none": (means["t1"] + means["t2"]) / 2, "score_stderr,none": "N/A"},
    }
    data = {
        "results": results, "group_subtasks": {"g": ["t1", "t2"]},
        "configs": {t: {"metadata": {"hn_judge_version": "rule:rules-test"}} for t in ("t1", "t2")},
        "higher_is_better": {"t1": {"rate": False, "score": False}, "t2": {"acc": True, "score": False},
                             "g": {"score": False}},
        "n-samples": {t: {"original": 100, "effective": N} for t in ("t1", "t2")},
        "config": {"model": "hneuron-hf", "model_args": f"pretrained=/somewhere/{model},dtype=float32",
                   "hneuron": hneuron},
        "lm_eval_version": version, "date": float(stamp[-2:]),
        "chat_template_sha": "abc" if chat else None,
    }
    run = folder / model
    run.mkdir(parents=True)
    (run / f"results_{stamp}.json").write_text(json.dumps(data))
    if samples:
        for task, metric in (("t1", "rate"), ("t2", "acc")):
            lines = [json.dumps({"doc_id": i, "metrics": [metric, "score"], metric: v, "score": v})
                     for i, v in enumerate(values[task])]
            (run / f"samples_{task}_{stamp}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def flips(base: list[float], up: int, down: int) -> list[float]:
    """``base`` with ``up`` zeros turned to ones and ``down`` ones turned to zeros."""
    out = list(base)
    zeros = [i for i, v in enumerate(base) if v == 0]
    ones = [i for i, v in enumerate(base) if v == 1]
    for i in zeros[:up]:
        out[i] = 1.0
    for i in ones[:down]:
        out[i] = 0.0
    return out


@pytest.fixture
def runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    t1 = [1.0] * 12 + [0.0] * 28
    t2 = [1.0] * 20 + [0.0] * 20
    write_run(root / "base", "2026-01-01T00-00-01", {"t1": t1, "t2": t2})
    write_run(root / "h0", "2026-01-01T00-00-02", {"t1": flips(t1, 24, 0), "t2": t2}, kind="hneurons", alpha=0.0)
    write_run(root / "h2", "2026-01-01T00-00-03", {"t1": flips(t1, 0, 10), "t2": t2}, kind="hneurons", alpha=2.0)
    for seed in (0, 1):
        write_run(root / f"r{seed}a0", f"2026-01-01T00-00-1{seed}", {"t1": flips(t1, 2, 1), "t2": t2}, kind="random",
                  alpha=0.0, seed=seed)
        write_run(root / f"r{seed}a2", f"2026-01-01T00-00-2{seed}", {"t1": flips(t1, 1, 1), "t2": t2}, kind="random",
                  alpha=2.0, seed=seed)
    write_run(root / "nosamples", "2026-01-01T00-00-30", {"t1": t1, "t2": t2}, kind="hneurons", alpha=3.0,
              samples=False)
    write_run(root / "old", "2026-01-01T00-00-40", {"t1": t1, "t2": t2}, version="0.3.0", model="other")
    return root


def test_paired_tests_correction_and_slopes(runs, tmp_path):
    board = build_leaderboard([runs], tmp_path / "out", n_boot=500)
    rows = {r.run.intervention.label: r for r in board.rows}
    assert set(rows) == {"none", "H-neurons α=0", "H-neurons α=2", "H-neurons α=3", "random #0 α=0", "random #1 α=0",
                         "random #0 α=2", "random #1 α=2"}
    h0 = rows["H-neurons α=0"].changes["t1/rate"]
    assert isinstance(h0, Change) and (h0.up, h0.down, h0.docs) == (24, 0, N)
    assert h0.delta == pytest.approx(24 / N) and h0.p == pytest.approx(binomtest(24, 24).pvalue)
    assert h0.significant and h0.ci[0] > 0
    assert rows["H-neurons α=2"].changes["t1/rate"].significant  # 10 down, 0 up: p = 0.002, survives BH
    assert not rows["random #0 α=0"].changes["t1/rate"].significant
    assert rows["H-neurons α=3"].changes["t1/rate"] == Untested("n/a (no logged samples)")
    # never a test on part of a group
    assert rows["H-neurons α=3"].changes["g/score"] == Untested("n/a (no logged samples)")
    unchanged = rows["H-neurons α=0"].changes["t2/acc"]
    assert (unchanged.up, unchanged.down, unchanged.p, unchanged.ci) == (0, 0, 1.0, (0.0, 0.0))
    # the group's change: equal weights reproduce lm-eval's group value, so it is half of t1's
    assert rows["H-neurons α=0"].changes["g/score"].delta == pytest.approx(12 / N)
    # t1/score repeats t1/rate (same values and direction) and is dropped; t2/score runs the other way to t2/acc
    keys = [c.key for c in board.columns]
    assert keys == ["g/score", "t1/rate", "t2/acc", "t2/score"]
    # a test per cell with samples; BH counts only the cells that could reach p < 0.05 (6+ documents changed)
    changes = [c for r in board.rows for c in r.changes.values() if isinstance(c, Change)]
    assert len(changes) == 6 * 4  # H α=3: no samples, no tests
    family = [c for c in changes if c.up + c.down >= 6]
    assert all(c.q >= c.p for c in family) and all(math.isnan(c.q) for c in changes if c not in family)
    assert sorted(c.q for c in family) == pytest.approx(sorted(false_discovery_control([c.p for c in family])))
    slopes = {(s.column.key, s.arm): s for s in board.slopes}
    h = slopes[("t1/rate", "H-neurons")]
    assert h.slope < 0 and h.ci[1] < 0 and h.configs == 3  # alpha 0, 1 (baseline), 2; alpha 3 has no samples
    r = slopes[("t1/rate", "random controls")]
    assert r.configs == 5 and r.ci[0] < 0 < r.ci[1]
    assert any("written by lm-eval 0.3.0" in m for m in board.skipped)


def test_files_are_deterministic_and_complete(runs, tmp_path):
    a = build_leaderboard([runs], tmp_path / "a", n_boot=200, command="hneuron-eval leaderboard (test)")
    build_leaderboard([runs], tmp_path / "b", n_boot=200, command="hneuron-eval leaderboard (test)")
    for name in ("LEADERBOARD.md", "leaderboard.csv", "leaderboard.html", "plots/tiny-model.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    md = (tmp_path / "a" / "LEADERBOARD.md").read_text()
    assert "rules-test" in md and "![tiny-model: dose-response](plots/tiny-model.png)" in md
    assert "0.900 ± 0.050 (+0.600*)" in md  # t1/rate of H α=0: 36/40, changed by +24/40, significant
    assert "n/a (no logged samples)" in md and "## Skipped" in md
    text = (tmp_path / "a" / "leaderboard.csv").read_text()
    assert text.startswith("# command: hneuron-eval leaderboard (test)\n")
    table = list(csv.DictReader(io.StringIO(text.split("\n", 1)[1])))
    assert len(table) == 8 * 4  # 8 model x intervention rows, 4 columns
    h0 = next(t for t in table if t["intervention"] == "H-neurons α=0" and t["metric"] == "rate")
    assert h0["significant"] == "True" and float(h0["delta"]) == pytest.approx(0.6)
    assert h0["higher_is_better"] == "False"
    html = (tmp_path / "a" / "leaderboard.html").read_text()
    assert 'id="leaderboard"' in html and "sig-down" in html  # a significant change for the worse is coloured
    assert a.terminal_table().splitlines()[0] == "tiny-model"


def test_bad_inputs(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["leaderboard", str(empty), "--out", str(tmp_path / "o")]) == 1
    assert "no lm-eval results_*.json under it" in capsys.readouterr().err
    bad = tmp_path / "bad" / "m"
    bad.mkdir(parents=True)
    (bad / "results_x.json").write_text(json.dumps({"results": {}}))
    assert main(["leaderboard", str(tmp_path / "bad"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "results_x.json: skipped, not an lm-eval results file (missing config" in err
    assert "no usable lm-eval results" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.browser
def test_leaderboard_page_sorts_in_chromium(runs, tmp_path, browser):
    """The written leaderboard.html, opened from disk: sort by a change column and read the table back."""
    from selenium.webdriver.common.by import By

    build_leaderboard([runs], tmp_path / "out", n_boot=200)
    browser.get((tmp_path / "out" / "leaderboard.html").as_uri())

    def column(key: str) -> list[str]:
        rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
        return [r.find_element(By.CSS_SELECTOR, f'td[data-key="{key}"]').text for r in rows]

    assert column("intervention")[0] == "none" and len(column("intervention")) == 8
    browser.find_element(By.CSS_SELECTOR, '#leaderboard th[data-key="t1/rate:delta"]').click()
    deltas = column("t1/rate:delta")
    numbers = [float(d.rstrip("*")) for d in deltas if d and not d.startswith("n/a")]
    assert numbers == sorted(numbers) and numbers[0] < 0 < numbers[-1]
    assert deltas[0] == "-0.250*"  # H-neurons at alpha 2: 10 of 40 documents down, survives the correction
    assert column("intervention")[0] == "H-neurons α=2"


def test_leaderboard_shows_the_judges_sealed_test_agreement_per_column(tmp_path):
    from hneuron_eval.judges.quality import metric_agreement
    from hneuron_eval.report.leaderboard import column_agreement

    sweep = Path(__file__).resolve().parents[1] / "results" / "leaderboard" / "sweeps" / "smollm2-135m-instruct"
    board = build_leaderboard([sweep / "baseline", sweep / "hneurons-alpha0"], tmp_path / "lb", plots=False,
                              n_boot=200)
    (version,) = board.judge_versions
    column = next(c for c in board.columns if c.key == "hn_selfaware/overcompliance")
    expected = metric_agreement(version, "hn_selfaware", "overcompliance")
    assert expected is not None and 0 < expected["value"] <= 1
    assert column_agreement(board, column) == (expected["value"], expected["value"])
    md = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    header_row = next(line for line in md.splitlines() if line.startswith("| judge agreement | sealed test |"))
    assert f"{expected['value']:.2f}" in header_row
    rows = list(csv.DictReader(line for line in (tmp_path / "lb" / "leaderboard.csv").read_text().splitlines()
                               if not line.startswith("#")))
    cell = next(r for r in rows if r["task"] == "hn_selfaware" and r["metric"] == "overcompliance")
    assert float(cell["judge_agreement_low"]) == expected["value"]


def test_leaderboard_never_overwrites_silently(tmp_path, capsys):
    base = write_run(tmp_path / "runs" / "base", "2026-01-01T00-00-00", {"t1": [0.0] * N, "t2": [1.0] * N})
    out = tmp_path / "out"
    assert main(["leaderboard", str(base.parent), "--out", str(out), "--no-plots"]) == 0
    before = (out / "LEADERBOARD.md").read_bytes()
    assert main(["leaderboard", str(base.parent), "--out", str(out), "--no-plots"]) == 1
    assert "already holds a leaderboard (LEADERBOARD.md, leaderboard.csv, leaderboard.html); pass --force" in \
        capsys.readouterr().err
    assert (out / "LEADERBOARD.md").read_bytes() == before
    assert main(["leaderboard", str(base.parent), "--out", str(out), "--no-plots", "--force"]) == 0
    for extra in ([], ["--force"]):
        assert main(["leaderboard", str(base.parent), "--out", str(base.parent), "--no-plots", *extra]) == 1
        assert "is one of the run folders it reads" in capsys.readouterr().err


def test_leaderboard_warns_when_runs_used_different_limits_or_documents(tmp_path, capsys):
    base = write_run(tmp_path / "runs" / "base", "2026-01-01T00-00-00", {"t1": [0.0] * N, "t2": [1.0] * N})
    other = write_run(tmp_path / "runs" / "h0", "2026-01-01T00-00-01", {"t1": [1.0] * N, "t2": [1.0] * N},
                      kind="hneurons", alpha=0.0)
    (path,) = other.rglob("results_*.json")
    data = json.loads(path.read_text())
    data["config"]["limit"] = 20
    data["n-samples"]["t1"]["effective"] = 20
    path.write_text(json.dumps(data))
    board = build_leaderboard([base.parent], tmp_path / "out", plots=False, n_boot=200)
    assert any("different --limit (20, None)" in m for m in board.mismatches)
    assert any(f"t1 was evaluated on different numbers of documents (20, {N})" in m for m in board.mismatches)
    md = (tmp_path / "out" / "LEADERBOARD.md").read_text()
    assert "**Runs that are not like for like:**" in md and "different --limit" in md
    assert "different --limit" in capsys.readouterr().err
    same = build_leaderboard([base], tmp_path / "out2", plots=False, n_boot=200)
    assert same.mismatches == []


def test_the_recorded_kind_decides_not_the_mask_method(tmp_path, capsys):
    """config.hneuron.kind says what a run is; results from before kinds fall back to their mask method."""
    from hneuron_eval.core.run_kind import RunKind
    from hneuron_eval.report.runs import find_runs

    base = [0.0] * N
    write_run(tmp_path / "a", "2026-01-01T00-00-01", {"t1": base, "t2": base})
    for i, (name, kind) in enumerate((("b", "control"), ("c", "hneurons"), ("d", "nonsense")), start=2):
        folder = write_run(tmp_path / name, f"2026-01-01T00-00-0{i}", {"t1": base, "t2": base}, kind="hneurons",
                           alpha=0.0, seed=4)
        results = next(folder.rglob("results_*.json"))
        data = json.loads(results.read_text())
        data["config"]["hneuron"]["kind"] = kind  # the mask method still says h-neurons
        results.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match=r"results_.*\.json: skipped, config\.hneuron\.kind: expected one of "
                                         r"\['baseline', 'hneurons', 'control'\], got 'nonsense'"):
        found = find_runs([tmp_path])
    kinds = sorted((r.path.parent.parent.name, r.intervention.kind) for r in found)
    assert kinds == [("a", RunKind.BASELINE), ("b", RunKind.CONTROL), ("c", RunKind.HNEURONS)]
    assert {r.intervention.label for r in found} == {"none", "random #4 α=0", "H-neurons α=0"}


def test_results_that_name_only_their_mask_file_read_its_method(tmp_path, monkeypatch):
    """The oldest results record the mask's path and hash, not its method: the mask file, if unchanged, decides."""
    from hneuron_eval.core.masks import ModelSpec, Neuron, NeuronMask
    from hneuron_eval.core.run_kind import RunKind
    from hneuron_eval.report.runs import find_runs

    monkeypatch.chdir(tmp_path)
    h_mask = NeuronMask(ModelSpec(2, 8, "tiny-model"), (Neuron(0, 1), Neuron(1, 2)))
    control = h_mask.random_control(3)
    control.save(tmp_path / "r.hneurons.json")
    h_mask.save(tmp_path / "h.hneurons.json")
    base = [0.0] * N
    write_run(tmp_path / "runs" / "a", "2026-01-01T00-00-01", {"t1": base, "t2": base})
    for i, (name, mask, sha) in enumerate((("b", "r.hneurons.json", control.sha256()),
                                           ("c", "h.hneurons.json", h_mask.sha256()),
                                           ("d", "r.hneurons.json", "cd" * 32)), start=2):  # d: the file changed
        folder = write_run(tmp_path / "runs" / name, f"2026-01-01T00-00-0{i}", {"t1": base, "t2": base},
                           kind="hneurons", alpha=0.0)
        results = next(folder.rglob("results_*.json"))
        data = json.loads(results.read_text())
        info = data["config"]["hneuron"]
        for key in ("mask_method", "mask_seed"):
            info.pop(key)
        info.update(mask=mask, mask_sha256=sha)
        results.write_text(json.dumps(data))
    found = {r.path.parent.parent.name: r.intervention for r in find_runs([tmp_path / "runs"])}
    assert [found[k].kind for k in "abcd"] == [RunKind.BASELINE, RunKind.CONTROL, RunKind.HNEURONS, RunKind.HNEURONS]
    assert found["b"].label == "random #3 α=0"


def test_runs_of_one_model_in_different_dtypes_are_marked(tmp_path, capsys):
    base = [0.0] * N
    write_run(tmp_path / "runs" / "a", "2026-01-01T00-00-01", {"t1": base, "t2": base})
    folder = write_run(tmp_path / "runs" / "b", "2026-01-01T00-00-02", {"t1": flips(base, 5, 0), "t2": base},
                       kind="hneurons", alpha=0.0)
    results = next(folder.rglob("results_*.json"))
    data = json.loads(results.read_text())
    data["config"]["hneuron_dtype"] = {"dtype": "bfloat16", "reason": "CPU with bfloat16 matrix units (amx_bf16)"}
    results.write_text(json.dumps(data))
    board = build_leaderboard([tmp_path / "runs"], tmp_path / "out", n_boot=200, plots=False)
    assert any("tiny-model: its runs used different dtypes (bfloat16, float32)" in m for m in board.mismatches)
    assert "different dtypes" in (tmp_path / "out" / "LEADERBOARD.md").read_text()
    lines = (tmp_path / "out" / "leaderboard.csv").read_text().splitlines()
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert {(r["intervention"], r["dtype"]) for r in rows} == {("none", "float32"), ("H-neurons α=0", "bfloat16")}
