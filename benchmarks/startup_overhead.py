"""Start-up cost that the autoload ``.pth`` adds to every Python process of the environment.

Runs ``python -X importtime -c pass`` N times and reports the median cumulative import
time of ``hneuron_eval._autoload`` (which includes importing the ``hneuron_eval``
package), and the median wall time of the whole interpreter start for comparison.

    python benchmarks/startup_overhead.py --runs 30 --out results/benchmarks/startup_overhead.json
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.core.provenance import command_line, utc_now


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    autoload_us, wall_ms = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True, check=True
        )
        wall_ms.append(1000 * (time.perf_counter() - start))
        match = re.search(r"import time:\s+\d+ \|\s+(\d+) \|\s+hneuron_eval\._autoload$", proc.stderr, re.M)
        if match is None:
            raise SystemExit("hneuron_eval._autoload was not imported at start-up: is the package installed?")
        autoload_us.append(int(match.group(1)))
    report = {
        "command": command_line("python", sys.argv),
        "date": utc_now(),
        "python": platform.python_version(),
        "runs": args.runs,
        "median_autoload_import_ms": statistics.median(autoload_us) / 1000,
        "median_interpreter_start_ms": statistics.median(wall_ms),
    }
    print(report)
    if args.out:
        write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()
