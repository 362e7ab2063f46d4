"""Benchmark: the cross-validated sparsity path over the whole C grid on a run's train features (seconds).

    python benchmarks/identify_probe.py --run runs/gemma-3-270m [--c-grid 0.01 0.1 1 10]
"""

from __future__ import annotations

import argparse
import time

from _report import emit  # benchmarks/ is on sys.path when a script runs


def main() -> None:
    import sklearn

    from hneuron_eval.identify.fitting import sparsity_path
    from hneuron_eval.identify.run import IdentifyRun
    from hneuron_eval.identify.stages import load_features

    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--c-grid", type=float, nargs="+", default=None, help="default: the run's grid")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    run = IdentifyRun(args.run)
    grid = args.c_grid or run.config.c_grid
    meta, ans, oth, y = load_features(run, "train")
    t0 = time.perf_counter()
    results = sparsity_path(ans, oth, y, meta["ids"], grid, run.config.contrast, run.config.cv_folds, run.config.seed)
    seconds = time.perf_counter() - t0
    out = {"model": run.info["model"], "run_id": run.info["run_id"], "rows": int(len(y)), "features": int(ans.shape[1]),
           "contrast": run.config.contrast, "folds": run.config.cv_folds, "grid": grid, "seconds_whole_grid": seconds,
           "n_h_neurons_per_C": {str(r["C"]): r["n_h_neurons"] for r in results}, "sklearn": sklearn.__version__}
    emit(out, args.out)


if __name__ == "__main__":
    main()
