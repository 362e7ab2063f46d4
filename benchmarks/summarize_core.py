"""Write ``results/benchmarks/README.md`` from the core benchmark JSON files (no hand-copied numbers).

    python benchmarks/summarize_core.py
"""

from __future__ import annotations

import json
from pathlib import Path

from hneuron_eval.fileio import write_text_atomic

RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def main() -> None:
    r = json.loads((RESULTS / "intervention_overhead.json").read_text())
    s = json.loads((RESULTS / "startup_overhead.json").read_text())
    lines = [
        "# Benchmarks (core)",
        "",
        "Written by `python benchmarks/summarize_core.py` from the JSON files next to this one, which hold",
        "every per-round number and the producing command.",
        "",
        "## hneuron-hf overhead vs plain hf (`benchmarks/intervention_overhead.py`)",
        "",
        f"Command: `{r['command']}`  ",
        f"Date: {r['date']}; model `{r['model']}` (float32, CPU, {r['torch_threads']} torch thread(s)),",
        f"task `{r['task']}` prompts (limit {r['limit']}, chat template {r['chat_template']}), "
        f"batch size {r['batch_size']},",
        f"mask of {r['mask_neurons']} random neurons ({r['mask_per_mille']} per mille) at alpha=0, seed {r['seed']};",
        f"versions {r['versions']}.",
        f"Load average (1 min) before / after the run: {r.get('load_average_1min_before_after', 'not recorded')} on "
        f"{r.get('cpu_count', '?')} cores. Interleaving the three models keeps the ratios fair under load;",
        "single rounds still vary by a few percent (see the JSON).",
        "",
        "| workload | hf median s | fold median s | hook median s | fold / hf | hook / hf | target fold / hook |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload, x in r["results"].items():
        m = x["median_seconds"]
        q = x.get("ratio_vs_hf_median_of_paired_rounds") or x["ratio_vs_hf_median_of_paired_calls"]
        lines.append(
            f"| {workload} | {m['hf']:.3f} | {m['hneuron-hf fold']:.3f} | {m['hneuron-hf hook']:.3f} "
            f"| {q['hneuron-hf fold']:.4f} | {q['hneuron-hf hook']:.4f} | <= 1.01 / <= 1.05 |"
        )
    lines += [
        "", "Ratios are medians of paired per-round (per-call) ratios. `per_call`: one padded batch of the same",
        "prompts through `_model_call`, interleaved hf / fold / hook, `calls` times each.", "",
        "## Start-up cost of the autoload .pth (`benchmarks/startup_overhead.py`)", "",
        f"Command: `{s['command']}`; date {s['date']}; Python {s['python']}.", "",
        f"Median cumulative import time of `hneuron_eval._autoload` at interpreter start: "
        f"{s['median_autoload_import_ms']:.2f} ms (whole `python -c pass`: {s['median_interpreter_start_ms']:.1f} ms).",
    ]
    write_text_atomic(RESULTS / "README.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
