"""Benchmark: the old settings (float32, static batches) against the new defaults, back to back on the same work.

    python benchmarks/dtype_speed.py --out results/benchmarks/dtype_speed.json [--work NAME ...] [--limit 100]

The two settings: ``float32`` is float32 with HF's static batches (``decoding=hf``), as every run
was before the dtype policy and compact decoding; ``default`` is the dtype policy's choice on this
machine with compact decoding (continuous batching, ``core/generation.py``). Identification's
sampling has one decoder; its ``float32`` run differs in dtype only.

Work (each run as its own process under GNU time, float32 first, then the default):
- ``smollm2-chat``: ``lm_eval --model hneuron-hf`` on SmolLM2-135M-Instruct, ``--tasks hneuron``, chat
  template, batch 64;
- ``gemma-fewshot``: the same on Gemma-3-270M (base, few-shot prompts), batch 16;
- ``sweep``: ``hneuron-eval sweep`` of 3 configurations (baseline, H-neurons at alpha 0, one control)
  on SmolLM2, ``hn_triviaqa,hn_selfaware``, then ``hneuron-eval leaderboard`` of it;
- ``sampling``: identification's ``sample`` stage, SmolLM2, 500 training (``--questions``) and 50 test
  questions, 2 samples each.

Reported per setting: wall seconds, peak RSS, generated tokens and tokens/s, the useful share of
row-steps in decoding (``config.hneuron_decoding`` of the results: rows fed whose answer had not
ended, over all rows fed), the model FLOPs per wall second (2 x parameters x tokens through the
model, prompts included) as a share of this CPU's measured matrix-product rate in that dtype, and
the task metrics; per work item the ratio and whether every metric stays within one float32
standard error (and, for the sweep, whether the same leaderboard cells are significant). Each
finished setting is kept in ``--out``: running again resumes (``--fresh`` measures everything again).

``--dtype bfloat16`` makes the new setting use that dtype whatever the policy says: a check of that
dtype's metrics against float32 on a machine whose policy picks another (its times are then not the
policy's).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from _report import emit, timed  # benchmarks/ is on sys.path when a script runs

from hneuron_eval.harness.precision import choose_dtype, product_rate
from hneuron_eval.identify.jsonl import read_records

BIN = Path(sys.executable).parent
SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"


SETTINGS = {"float32": ("float32", "hf"), "default": (None, "compact")}  # (dtype given, decoding)


def lm_eval_cmd(model: str, setting: str, limit: int, batch: int, chat: bool, out: Path) -> list[str]:
    dtype, decoding = SETTINGS[setting]
    args = f"pretrained={model},decoding={decoding}" + (f",dtype={dtype}" if dtype else "")
    return [str(BIN / "lm_eval"), "--model", "hneuron-hf", "--model_args", args,
            "--tasks", "hneuron", "--limit", str(limit), "--batch_size", str(batch), "--device", "cpu",
            "--seed", "0", "--log_samples", "--output_path", str(out), *(["--apply_chat_template"] if chat else [])]


def tokens(folder: Path, model: str) -> tuple[int, int]:
    """(prompt tokens, response tokens) of every logged generation under ``folder``."""
    from transformers import AutoTokenizer

    from hneuron_eval.harness.builtin_models import resolve_pretrained

    tok = AutoTokenizer.from_pretrained(resolve_pretrained(model))
    prompt = response = 0
    for path in folder.rglob("samples_*.jsonl"):
        for line in path.read_text(encoding="utf-8").split("\n"):  # not splitlines(): texts may hold U+2028
            if not line.strip():
                continue
            sample = json.loads(line)
            args = sample["arguments"]["gen_args_0"]
            budget = int(args["arg_1"].get("max_gen_toks", 256))
            prompt += len(tok(args["arg_0"])["input_ids"])
            # the stop token is generated too, unless the answer ran to the budget
            response += min(budget, len(tok(sample["resps"][0][0], add_special_tokens=False)["input_ids"]) + 1)
    return prompt, response


def useful_share(folder: Path) -> float | None:
    """Useful row-steps over all row-steps of decoding, summed over the results files under ``folder``."""
    used = steps = 0
    for path in folder.rglob("results_*.json"):
        info = json.loads(path.read_text(encoding="utf-8"))["config"].get("hneuron_decoding", {})
        used, steps = used + info.get("useful_row_steps", 0), steps + info.get("row_steps", 0)
    return round(used / steps, 4) if steps else None


def throughput(result: dict, folder: Path, model: str, dtype: str, rates: dict[str, float]) -> dict:
    """Tokens/s, the useful share of decoding and the share of the dtype's matrix-product rate reached."""
    from hneuron_eval.harness.builtin_models import resolve_pretrained

    prompt, response = tokens(folder, model)
    params = PARAMS.setdefault(model, _parameters(resolve_pretrained(model)))
    flops = 2 * params * (prompt + response) / result["wall_s"] / 1e9
    return {**result, "prompt_tokens": prompt, "generated_tokens": response,
            "tokens_per_s": round(response / result["wall_s"], 1), "useful_decode_share": useful_share(folder),
            "model_gflops": round(flops, 1), "share_of_gemm_rate": round(flops / rates[dtype], 3)}


PARAMS: dict[str, int] = {}


def _parameters(path: str) -> int:
    """Parameters of the checkpoint at ``path`` (its safetensors shapes; tied weights once)."""
    from safetensors import safe_open

    total = 0
    for file in Path(path).glob("*.safetensors"):
        with safe_open(file, "pt") as f:
            total += sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())
    return total


def task_metrics(folder: Path) -> dict[str, dict[str, list[float | None]]]:
    """task -> metric -> [value, stderr] from the results JSON under ``folder``."""
    data = json.loads(next(folder.rglob("results_*.json")).read_text(encoding="utf-8"))
    out: dict[str, dict[str, list[float | None]]] = {}
    for task, values in data["results"].items():
        for key, value in values.items():
            name, _, filt = key.partition(",")
            if filt and not name.endswith("_stderr") and isinstance(value, (int, float)):
                stderr = values.get(f"{name}_stderr,{filt}")
                out.setdefault(task, {})[name] = [value, stderr if isinstance(stderr, (int, float)) else None]
    return out


def within_one_se(ref: dict, other: dict) -> dict:
    """Metrics of ``other`` more than one of ``ref``'s standard errors from ``ref`` (and how many were compared)."""
    outside, compared = [], 0
    for task, metrics in ref.items():
        for name, (value, stderr) in metrics.items():
            if stderr is None or name not in other.get(task, {}):
                continue
            compared += 1
            if abs(other[task][name][0] - value) > stderr:
                outside.append(f"{task}/{name}: {value:.4f} -> {other[task][name][0]:.4f} (se {stderr:.4f})")
    return {"compared": compared, "outside_one_se": outside}


def significant_cells(board: Path) -> list[str]:
    lines = (board / "leaderboard.csv").read_text(encoding="utf-8").splitlines()
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    return sorted(f"{r['intervention']}|{r['task']}/{r['metric']}" for r in rows if r["significant"] == "True")


def run_item(name: str, setting: str, work: Path, limit: int, questions: int, rates: dict[str, float]) -> dict:
    out = work / f"{name}-{setting}"
    log = work / f"{name}-{setting}.log"
    given, decoding = SETTINGS[setting]
    dtype = given or choose_dtype(None, "cpu").dtype
    if name in ("smollm2-chat", "gemma-fewshot"):
        model, batch, chat = (SMOL, 64, True) if name == "smollm2-chat" else (GEMMA, 16, False)
        result = timed(lm_eval_cmd(model, setting, limit, batch, chat, out), log)
        return {**throughput(result, out, model, dtype, rates), "metrics": task_metrics(out)}
    if name == "sweep":
        result = timed([str(BIN / "hneuron-eval"), "sweep", "--model", SMOL, "--mask", f"masks/{SMOL}.hneurons.json",
                        "--alphas", "0", "--controls", "1", "--tasks", "hn_triviaqa,hn_selfaware", "--limit",
                        str(limit), "--apply-chat-template", "--batch-size", "64", "--decoding", decoding,
                        *(["--dtype", given] if given else []), "--out", str(out)], log)
        timed([str(BIN / "hneuron-eval"), "leaderboard", str(out), "--out", str(work / f"board-{setting}"),
               "--no-plots", "--force"], work / f"board-{setting}.log")
        return {**throughput(result, out, SMOL, dtype, rates), "metrics": task_metrics(out / "baseline"),
                "significant_cells": significant_cells(work / f"board-{setting}")}
    result = timed([str(BIN / "hneuron-eval"), "sample", "--model", SMOL, "--out", str(out), "--questions",
                    str(questions), "--samples", "2", "--test-questions", "50", "--max-new-tokens", "24",
                    "--batch-size", "32", "--min-per-class", "1", *(["--dtype", given] if given else [])], log)
    records = [r for path in sorted((out / "samples").glob("*.jsonl")) for r in read_records(path)]
    labels: dict[str, int] = defaultdict(int)
    for record in records:
        labels[record.get("label", "?")] += 1
    generated = sum(len(r["ids"]) for record in records for r in record["responses"])
    return {**result, "dtype": dtype, "questions": len(records), "generated_tokens": generated,
            "tokens_per_s": round(generated / result["wall_s"], 1), "labels": dict(sorted(labels.items()))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", nargs="+", default=["smollm2-chat", "sweep", "sampling", "gemma-fewshot"],
                   choices=["smollm2-chat", "sweep", "sampling", "gemma-fewshot"])
    p.add_argument("--limit", type=int, default=100, help="documents per task (lm-eval --limit)")
    p.add_argument("--questions", type=int, default=500, help="training questions of the sampling item")
    p.add_argument("--keep", default=None, help="folder for the runs (default: a temporary one, removed)")
    p.add_argument("--fresh", action="store_true", help="measure every item again, ignoring those in --out")
    p.add_argument("--out", default=None)
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                   help="the new setting's dtype instead of the policy's (a metrics check; times are not the policy's)")
    args = p.parse_args()
    if args.dtype:
        SETTINGS["default"] = (args.dtype, "compact")
    policy = choose_dtype(None, "cpu")
    resume = args.out and Path(args.out).is_file() and not args.fresh
    previous = json.loads(Path(args.out).read_text(encoding="utf-8")) if resume else {}
    done = previous.get("work", {}) if previous.get("settings") == _settings() else {}
    rates = previous.get("gemm_gflops") or {dtype: product_rate(dtype, 2048) for dtype in ("float32", "bfloat16")}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in args.work:
            if "speedup" in done.get(name, {}):
                continue
            item = done.setdefault(name, {})
            for setting in SETTINGS:
                if setting not in item:
                    item[setting] = run_item(name, setting, work, args.limit, args.questions, rates)
                    emit({"policy": policy.to_dict(), "settings": _settings(), "gemm_gflops": rates,
                          "limit": args.limit, "questions": args.questions, "work": done}, args.out)
            ref, new = item["float32"], item["default"]
            item["speedup"] = round(ref["wall_s"] / new["wall_s"], 3)
            if "metrics" in ref:
                item["metrics_vs_float32"] = within_one_se(ref["metrics"], new["metrics"])
            if "significant_cells" in ref:
                item["same_significant_cells"] = ref["significant_cells"] == new["significant_cells"]
            done[name] = item
            emit({"policy": policy.to_dict(), "settings": _settings(), "gemm_gflops": rates, "limit": args.limit,
                  "questions": args.questions, "work": done}, args.out)


def _settings() -> dict[str, dict[str, str | None]]:
    return {name: {"dtype": dtype or "the policy's", "decoding": decoding}
            for name, (dtype, decoding) in SETTINGS.items()}


if __name__ == "__main__":
    main()
