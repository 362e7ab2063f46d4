"""The benchmark's document-by-document test of two runs of one work (benchmarks/dtype_paired.py), on published runs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import dtype_paired  # noqa: E402

SWEEP = ROOT / "results" / "leaderboard" / "sweeps" / "smollm2-135m-instruct"


def test_a_run_against_itself_changes_nothing_and_tests_nothing():
    run = dtype_paired._run(str(SWEEP / "baseline"))
    rows = dtype_paired.paired(run, run)
    assert {r["task"] for r in rows} == {"hn_triviaqa", "hn_selfaware", "hn_falseqa"}
    assert all(r["up"] == r["down"] == 0 and r["delta"] == 0 and r["p"] is None and "q" not in r for r in rows)


def test_two_runs_count_the_documents_that_moved():
    a, b = dtype_paired._run(str(SWEEP / "baseline")), dtype_paired._run(str(SWEEP / "hneurons-alpha3"))
    rows = {(r["task"], r["metric"]): r for r in dtype_paired.paired(a, b)}
    row = rows[("hn_triviaqa", "degenerate_rate")]
    da, db = a.samples("hn_triviaqa"), b.samples("hn_triviaqa")
    assert row["docs"] == len(da) and row["up"] == sum(db[d]["degenerate_rate"] > da[d]["degenerate_rate"] for d in da)
    assert row["up"] > row["down"] and row["delta"] > 0 and row["q"] < 0.05  # amplification degenerates the text
    tested = [r for r in rows.values() if r["p"] is not None]
    assert all(r["q"] >= r["p"] - 1e-12 for r in tested)  # BH never lowers a p value
