"""Wall-time and peak-memory ratios of generation with ``detector=`` over the same ``hneuron-hf`` model without it.

Two lm-eval models are built on the same weights: ``hneuron-hf`` and ``hneuron-hf`` with the
probe folder as ``detector=``, its ``detector_controls=`` and the output-only baselines (on by
default). Every round sends the same ``generate_until`` requests (the task's chat prompts,
greedy, the task's budget) through both, order swapped each round; the forward passes are
counted too (a hook on the decoder body: watching must add none). Peak memory: each model in a
fresh process generating the same requests once (``ru_maxrss``). Reported: median seconds per
model, the median of the per-round ratios (goal <= 1.15) and the peak-memory ratio (goal <= 1.2).

    python benchmarks/monitor_overhead.py --model smollm2-135m-instruct \
        --detector results/identify/smollm2-135m-instruct-large/detectors/h-neurons \
        --controls 'results/identify/smollm2-135m-instruct-large/detectors/[!h]*' --task hn_triviaqa \
        --limit 256 --batch-size 64 --rounds 3 --out results/benchmarks/monitor_overhead.json
"""

from __future__ import annotations

import argparse
import statistics
import time

from _report import emit  # benchmarks/ is on sys.path when a script runs
from lm_eval.api.instance import Instance
from lm_eval.tasks import TaskManager, get_task_dict

from hneuron_eval.harness.lm_model import HNeuronLM


def requests(task_name: str, limit: int, lm: HNeuronLM) -> list[Instance]:
    task = get_task_dict([task_name], TaskManager())[task_name]
    out = []
    for i, doc in enumerate(list(task.eval_docs)[:limit]):
        context = task.fewshot_context(doc, 0, apply_chat_template=True, chat_template=lm.apply_chat_template)
        gen = dict(task.config.generation_kwargs)
        out.append(Instance("generate_until", doc, (context, gen), i, metadata=(task_name, i, 1)))
    return out


def timed(lm: HNeuronLM, reqs: list[Instance]) -> tuple[float, int, list[str]]:
    calls = []
    handle = lm.model.model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        start = time.perf_counter()
        texts = lm.generate_until(reqs, disable_tqdm=True)
        return time.perf_counter() - start, len(calls), texts
    finally:
        handle.remove()


def peak_rss_mb(args: argparse.Namespace, watched: bool) -> float:
    """Peak resident memory of a fresh process that loads one of the two models and generates the requests once."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, __file__, "--model", args.model, "--detector", args.detector, "--task", args.task,
           "--limit", str(args.limit), "--batch-size", str(args.batch_size),
           "--child", "watched" if watched else "plain"]
    if args.controls:
        cmd += ["--controls", args.controls]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_mb"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--detector", required=True)
    p.add_argument("--controls", default=None, help="glob of control probe folders (detector_controls=)")
    p.add_argument("--task", default="hn_triviaqa")
    p.add_argument("--limit", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--memory-only", action="store_true", help="only the two peak-memory processes (larger --limit)")
    p.add_argument("--child", choices=("plain", "watched"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    common = dict(pretrained=args.model, device="cpu", dtype="float32", batch_size=args.batch_size)
    extra = {"detector": args.detector, **({"detector_controls": args.controls} if args.controls else {})}
    if args.child:  # one model, one pass, its peak memory
        import json
        import resource

        lm = HNeuronLM(**common, **(extra if args.child == "watched" else {}))
        lm.generate_until(requests(args.task, args.limit, lm), disable_tqdm=True)
        print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    if args.memory_only:
        memory = {"plain": peak_rss_mb(args, False), "detector": peak_rss_mb(args, True)}
        emit({"model": args.model, "detector": args.detector, "controls": args.controls, "task": args.task,
              "requests": args.limit, "batch_size": args.batch_size,
              "peak_rss_mb": {k: round(v, 1) for k, v in memory.items()},
              "peak_rss_ratio": round(memory["detector"] / memory["plain"], 4)}, args.out)
        return
    plain, watched = HNeuronLM(**common), HNeuronLM(**common, **extra)
    reqs = requests(args.task, args.limit, plain)
    timed(plain, reqs[: args.batch_size])  # warm-up
    times: dict[str, list[float]] = {"plain": [], "detector": []}
    ratios, calls, same = [], {}, True
    for r in range(args.rounds):
        order = [("plain", plain), ("detector", watched)][:: 1 if r % 2 == 0 else -1]
        got = {}
        for name, lm in order:
            seconds, n_calls, texts = timed(lm, reqs)
            times[name].append(seconds)
            calls[name] = n_calls
            got[name] = texts
        same = same and got["plain"] == got["detector"]
        ratios.append(times["detector"][-1] / times["plain"][-1])
    answers = dict(sorted(watched.monitor_stats.items()))
    baseline_answers = dict(sorted(watched.baseline_stats.items()))
    del plain, watched
    memory = {"plain": peak_rss_mb(args, False), "detector": peak_rss_mb(args, True)}
    emit({
        "model": args.model, "detector": args.detector, "controls": args.controls, "task": args.task,
        "requests": len(reqs), "peak_rss_mb": {k: round(v, 1) for k, v in memory.items()},
        "peak_rss_ratio": round(memory["detector"] / memory["plain"], 4),
        "batch_size": args.batch_size, "rounds": args.rounds,
        "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "ratio_detector_vs_plain_median": round(statistics.median(ratios), 4),
        "ratios": [round(x, 4) for x in ratios],
        "forward_passes_per_round": calls, "same_texts": same,
        "answers": answers, "baseline_answers": baseline_answers,
    }, args.out)


if __name__ == "__main__":
    main()
