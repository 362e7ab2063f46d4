"""Wall-time ratio of generation with ``detector=`` over the same ``hneuron-hf`` model without it, alternately.

Two lm-eval models are built on the same weights: ``hneuron-hf`` and ``hneuron-hf`` with the
probe folder as ``detector=``. Every round sends the same ``generate_until`` requests (the
task's chat prompts, greedy, the task's budget) through both, order swapped each round; the
detector's forward passes are counted too (a hook on the decoder body: the monitor must add
none). Reported: median seconds per model and the median of the per-round ratios (goal <= 1.10).

    python benchmarks/monitor_overhead.py --model smollm2-135m-instruct \
        --detector results/identify/smollm2-135m-instruct/probe --task hn_triviaqa --limit 64 \
        --batch-size 16 --rounds 5 --out results/benchmarks/monitor_overhead.json
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--detector", required=True)
    p.add_argument("--task", default="hn_triviaqa")
    p.add_argument("--limit", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    common = dict(pretrained=args.model, device="cpu", dtype="float32", batch_size=args.batch_size)
    plain, watched = HNeuronLM(**common), HNeuronLM(**common, detector=args.detector)
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
    emit({
        "model": args.model, "detector": args.detector, "task": args.task, "requests": len(reqs),
        "batch_size": args.batch_size, "rounds": args.rounds,
        "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "ratio_detector_vs_plain_median": round(statistics.median(ratios), 4),
        "ratios": [round(x, 4) for x in ratios],
        "forward_passes_per_round": calls, "same_texts": same,
        "answers": dict(sorted(watched.monitor_stats.items())),
    }, args.out)


if __name__ == "__main__":
    main()
