"""Wall-time ratio of ``hneuron-hf`` (0.1% mask, fold / hook) over plain ``hf``, measured alternately.

Three lm-eval models are built once on the same weights: plain ``hf``, ``hneuron-hf``
scale_via=fold and ``hneuron-hf`` scale_via=hook, the latter two with a mask of 0.1% of all FFN
neurons at alpha=0. Every round sends the same requests, built from one task's
documents, through each model in turn (order rotated per round), so that drifts in
machine load hit all three alike:

* ``loglikelihood``: context = the task prompt, continuation = the gold answer;
* ``generate_until``: the task prompt, greedy, exactly ``--gen-tokens`` new tokens
  (``min_new_tokens`` = max, no stop strings), so that an intervention that changes the
  text cannot change the amount of work.

Reported: per workload, the median over rounds of each model's time and the median of
the per-round ratios to ``hf`` (targets: fold <= 1.01, hook <= 1.05). Because a whole
workload takes seconds and the load of a shared machine drifts over seconds, the script
also times single model calls (one padded batch of the same prompts) interleaved
hf / fold / hook many times: the ``per_call`` section, the finer measurement.

    python benchmarks/intervention_overhead.py --model smollm2-135m-instruct --task hn_triviaqa \
        --limit 64 --batch-size 16 --rounds 7 --out results/benchmarks/intervention_overhead.json

``--smoke`` runs the same code on a handful of requests, to check the script, not to time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lm_eval
import torch
import transformers
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager, get_task_dict

from hneuron_eval import __version__
from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.core.masks import Neuron, NeuronMask
from hneuron_eval.core.provenance import command_line, utc_now
from hneuron_eval.core.sites import resolve_ffn
from hneuron_eval.harness.builtin_models import resolve_pretrained
from hneuron_eval.harness.lm_model import HNeuronLM


def build_requests(task_name: str, limit: int, lm: HFLM, chat: bool, gen_tokens: int):
    """The task's first ``limit`` prompts as loglikelihood and fixed-length generation requests."""
    task = get_task_dict([task_name], TaskManager())[task_name]
    docs = list(task.eval_docs)[:limit]
    ll, gen = [], []
    for i, doc in enumerate(docs):
        ctx = task.doc_to_text(doc)
        if chat:
            ctx = lm.apply_chat_template([{"role": "user", "content": ctx}])
        target = task.doc_to_target(doc)
        target = target[0] if isinstance(target, list) else str(target)
        ll.append(Instance("loglikelihood", doc, (ctx, " " + target), i))
        kwargs = {"until": [], "max_gen_toks": gen_tokens, "min_new_tokens": gen_tokens, "do_sample": False}
        gen.append(Instance("generate_until", doc, (ctx, kwargs), i))
    return ll, gen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--task", default="hn_triviaqa")
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--per-mille", type=float, default=1.0, help="mask size, share of all FFN neurons")
    ap.add_argument("--no-chat-template", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calls", type=int, default=60, help="interleaved single-call repetitions")
    ap.add_argument("--threads", type=int, help="torch CPU threads (1 is steadiest on a shared machine)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--smoke", action="store_true", help="a few seconds' check that the script runs (no timing value)")
    args = ap.parse_args()
    if args.smoke:
        args.limit, args.batch_size, args.gen_tokens, args.rounds, args.calls = 4, 4, 2, 1, 2
    if args.threads:
        torch.set_num_threads(args.threads)

    load_before = os.getloadavg()
    path = resolve_pretrained(args.model)
    common = dict(device="cpu", dtype="float32", batch_size=args.batch_size)
    plain = HFLM(pretrained=path, **common)
    layout = resolve_ffn(plain.model)
    count = max(1, round(layout.num_neurons * args.per_mille / 1000))
    flat = torch.randperm(layout.num_neurons, generator=torch.Generator().manual_seed(args.seed))[:count].tolist()
    mask = NeuronMask.for_model(plain.model, [Neuron(i // layout.d_ff, i % layout.d_ff) for i in flat], name=args.model)
    with tempfile.TemporaryDirectory() as tmp:
        mask_path = mask.save(Path(tmp) / "bench.hneurons.json")
        lms = {
            "hf": plain,
            "hneuron-hf fold": HNeuronLM(pretrained=path, mask=str(mask_path), alpha=0, scale_via="fold", **common),
            "hneuron-hf hook": HNeuronLM(pretrained=path, mask=str(mask_path), alpha=0, scale_via="hook", **common),
        }
    chat = not args.no_chat_template and plain.tokenizer.chat_template is not None
    ll_reqs, gen_reqs = build_requests(args.task, args.limit, plain, chat, args.gen_tokens)
    workloads = {"loglikelihood": lambda lm: lm.loglikelihood(ll_reqs, disable_tqdm=True),
                 "generate_until": lambda lm: lm.generate_until(gen_reqs, disable_tqdm=True)}
    names = list(lms)
    seconds = {w: {n: [] for n in names} for w in workloads}
    for r in range(args.rounds + 1):  # round 0 warms up and is not counted
        order = names[r % 3:] + names[: r % 3]
        for workload, run in workloads.items():
            for name in order:
                start = time.perf_counter()
                run(lms[name])
                if r:
                    seconds[workload][name].append(time.perf_counter() - start)
        if r:
            print(
                f"round {r}: "
                + "; ".join(f"{w}: " + ", ".join(f"{n} {seconds[w][n][-1]:.2f}s" for n in names) for w in workloads),
                file=sys.stderr,
                flush=True,
            )

    # per call: one batch forward, interleaved tightly; the intervention is applied per call
    batch = plain.tok_batch_encode([r.args[0] + r.args[1] for r in ll_reqs[: args.batch_size]])[0]
    calls = {n: [] for n in names}
    for i in range(args.calls + 1):
        for name in names[i % 3:] + names[: i % 3]:
            start = time.perf_counter()
            lms[name]._model_call(batch)
            if i:
                calls[name].append(time.perf_counter() - start)
    summary = {
        "per_call": {
            "batch_shape": list(batch.shape),
            "calls": args.calls,
            "median_seconds": {n: statistics.median(v) for n, v in calls.items()},
            "ratio_vs_hf_median_of_paired_calls": {
                n: statistics.median(a / b for a, b in zip(calls[n], calls["hf"])) for n in names if n != "hf"
            },
        }
    }
    for workload, by_model in seconds.items():
        summary[workload] = {
            "median_seconds": {n: statistics.median(v) for n, v in by_model.items()},
            "ratio_vs_hf_median_of_paired_rounds": {
                n: statistics.median(a / b for a, b in zip(by_model[n], by_model["hf"])) for n in names if n != "hf"
            },
            "per_round_seconds": by_model,
        }
    report = {
        "command": command_line("python", sys.argv),
        "date": utc_now(),
        "model": args.model, "task": args.task, "limit": args.limit, "batch_size": args.batch_size,
        "chat_template": chat, "gen_tokens": args.gen_tokens, "rounds": args.rounds, "seed": args.seed,
        "mask_neurons": count, "mask_per_mille": round(1000 * count / layout.num_neurons, 4),
        "device": "cpu", "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "versions": {"hneuron-eval": __version__, "lm-eval": lm_eval.__version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version()},
        "targets": {"hneuron-hf fold": 1.01, "hneuron-hf hook": 1.05},
        "results": summary,
    }
    for workload, s in summary.items():
        ratios = s.get("ratio_vs_hf_median_of_paired_rounds") or s["ratio_vs_hf_median_of_paired_calls"]
        print(f"{workload}: " + ", ".join(f"{n} {v:.4f}" for n, v in ratios.items()))
    if args.out:
        write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()
