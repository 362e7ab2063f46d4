"""Judging time: the rule judge against the learned judge, per 1,000 responses and as a share of a whole lm_eval run.

usage: python benchmarks/judge_time.py RUN_DIR --out results/benchmarks/judge_time.json [--repeats 3]
       [--learned-path DIR ...]

RUN_DIR is an ``lm_eval --tasks hneuron ... --log_samples`` output folder. Every logged response
is classed by each judge (``suite.kinds.classify``, what ``process_results`` calls), ``--repeats``
times; the best round counts. The share compares that time with the run's own
``total_evaluation_time_seconds`` (which already includes the judge the run was scored with).
--learned-path adds learned judges from other folders (a candidate not yet bundled). A judge that
reads model states (``judges/states.py``) starts every round with no state cached; one response of
each task side is classed before the rounds (this loads the state model), its time reported apart as
``first_call_seconds``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.core.provenance import utc_now
from hneuron_eval.judges import get_judge
from hneuron_eval.judges.labels import TASK_KINDS
from hneuron_eval.judges.states import clear_state_caches
from hneuron_eval.suite.kinds import classify


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--learned-path", nargs="*", default=[], help="more learned-judge folders to time")
    args = parser.parse_args(argv)
    (results,) = Path(args.run).rglob("results_*.json")
    data = json.loads(results.read_text(encoding="utf-8"))
    samples = []
    for path in sorted(results.parent.glob("samples_hn_*.jsonl")):
        task = path.name[len("samples_"):].rsplit("_", 1)[0]
        samples += [(TASK_KINDS[task], json.loads(x)) for x in path.read_text(encoding="utf-8").split("\n")
                    if x.strip()]
    out = {"command": shlex.join(["python", "benchmarks/judge_time.py", *argv]), "date": utc_now(),
           "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "run": args.run,
           "run_wall_seconds": data["total_evaluation_time_seconds"], "responses": len(samples), "judges": {}}
    for name, options in [("rule", {}), ("learned", {}), *(("learned", {"path": p}) for p in args.learned_path)]:
        judge = get_judge(name, **options)
        start = time.perf_counter()
        firsts = {(kind, s["doc"]["label"]): s for kind, s in reversed(samples)}  # one response per task side
        for (kind, _), s in firsts.items():  # warm: vectorizers, regexes, the state model's load
            classify(kind, s["doc"], s["resps"][0], judge)
        first = time.perf_counter() - start
        rounds = []
        for _ in range(args.repeats):
            clear_state_caches()
            start = time.perf_counter()
            for kind, s in samples:
                classify(kind, s["doc"], s["resps"][0], judge)
            rounds.append(time.perf_counter() - start)
        best = min(rounds)
        out["judges"][f"{judge.name}:{judge.version}"] = {
            "seconds": round(best, 3), "seconds_per_1000": round(1000 * best / len(samples), 3),
            "share_of_run": round(best / float(data["total_evaluation_time_seconds"]), 4),
            "rounds": [round(r, 3) for r in rounds], "first_call_seconds": round(first, 3),
            **({"path": options["path"]} if options else {})}
    write_json_atomic(args.out, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
