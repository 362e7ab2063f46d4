"""Benchmark: CETT feature extraction vs a bare batched forward pass and vs a per-sample reference.

Each measurement runs in its own subprocess so peak RSS (ru_maxrss) is per method; methods are
interleaved over rounds and the best round is reported (the machine is shared).
    python benchmarks/identify_features.py --model smollm2-135m-instruct --samples 64 --batch-size 8
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import emit  # benchmarks/ is on sys.path when a script runs


def rows_for(tokenizer, n: int):
    """Real TriviaQA prompts (chat template / few-shot) with a gold-answer response and its answer span."""
    from hneuron_eval.core.answer_span import SpanFinder
    from hneuron_eval.core.cett import FeatureRow
    from hneuron_eval.identify import questions as D
    from hneuron_eval.identify.prompt_ids import prompt_ids

    finder = SpanFinder(tokenizer)
    rows = []
    for q in D.triviaqa_dev().questions[:n]:
        resp = tokenizer(f"The answer is {q.aliases[0]}.", add_special_tokens=False)["input_ids"][:24]
        start, end, _ = finder.find(resp)
        rows.append(FeatureRow(q.id, prompt_ids(tokenizer, q.question), resp, (start, end)))
    return rows


def measure(method: str, model_name: str, n: int, batch_size: int) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hneuron_eval.core.cett import CETTExtractor, model_body
    from hneuron_eval.core.sites import resolve_ffn
    from hneuron_eval.harness.builtin_models import resolve_pretrained
    from hneuron_eval.identify.store import FeatureStore

    path = resolve_pretrained(model_name)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    rows = rows_for(tok, n)
    ext = CETTExtractor(model, padding_side="right", pad_id=tok.pad_token_id or 0)
    tmp = Path(tempfile.mkdtemp(prefix="hn-bench-"))
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if method == "hneuron":  # the pipeline path: batched hooks + streaming to the memory-mapped store
        store = FeatureStore(tmp / "f")
        store.create_or_resume({"model": model_name}, [r.id for r in rows], {}, ext.width, "float32")
        store.fill(len(rows), batch_size, lambda index: ext.extract([rows[i] for i in index]), "bench")
    elif method == "bare":  # the limit: same padded batches through the model body, no hooks, no logits
        body = model_body(model)
        with torch.inference_mode():
            for s in range(0, n, batch_size):
                t = ext.batch_tensors(rows[s:s + batch_size])
                body(
                    input_ids=t["input_ids"],
                    attention_mask=t["attention_mask"],
                    position_ids=t["position_ids"],
                    use_cache=False,
                )
    elif (
        method == "reference"
    ):  # official-script style: batch 1, full logits, every layer and token kept, one file per sample
        layout = resolve_ffn(model)
        norms = [m.weight.detach().norm(dim=0) for m in layout.down_projs]
        for r in rows:
            acts = {}
            hooks = [m.register_forward_hook(lambda mod, a, o, i=i: acts.__setitem__(i, (a[0][0], o[0])))
                     for i, m in enumerate(layout.down_projs)]
            with torch.inference_mode():
                model(input_ids=torch.tensor([r.ids]))
            for h in hooks:
                h.remove()
            cett = torch.stack(
                [acts[i][0].abs() * norms[i] / acts[i][1].norm(dim=-1, keepdim=True) for i in range(layout.num_layers)]
            )
            np.save(tmp / f"{r.id}.npy", cett.numpy())  # (layers, tokens, d_ff), aggregated later
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"method": method, "samples": n, "seconds": seconds, "samples_per_s": n / seconds,
            "peak_rss_mb": peak / 1024, "rss_growth_during_run_mb": (peak - base_rss) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=["hneuron", "bare", "reference"])
    ap.add_argument("--memory-check", action="store_true", help="also run the pipeline path on 4x the samples")
    ap.add_argument("--out", default=None)
    ap.add_argument("--_one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._one:
        print(json.dumps(measure(args._one[0], args.model, int(args._one[1]), args.batch_size)))
        return

    def one(method: str, n: int) -> dict:
        cmd = [
            sys.executable,
            __file__,
            "--model",
            args.model,
            "--batch-size",
            str(args.batch_size),
            "--_one",
            method,
            str(n),
        ]
        return json.loads(
            subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        )

    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for m in args.methods:
            r = one(m, args.samples)
            if m not in best or r["samples_per_s"] > best[m]["samples_per_s"]:
                best[m] = r
    result = {"model": args.model, "batch_size": args.batch_size, "dtype": "float32", "samples": args.samples,
              "rounds": args.rounds, "best": best}
    if "bare" in best and "hneuron" in best:
        result["hneuron_vs_bare"] = best["hneuron"]["samples_per_s"] / best["bare"]["samples_per_s"]
    if "reference" in best and "hneuron" in best:
        result["speedup_vs_reference"] = best["hneuron"]["samples_per_s"] / best["reference"]["samples_per_s"]
    if args.memory_check:
        result["memory_check"] = [one("hneuron", args.samples), one("hneuron", 4 * args.samples)]
    emit(result, args.out)


if __name__ == "__main__":
    main()
