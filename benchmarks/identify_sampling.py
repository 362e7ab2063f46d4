"""Benchmark: the sampling stage (prompting, generation, judging, JSONL append) vs plain batched ``generate``.

Both use the same generation settings and stop tokens. The stage decodes with
``core/generation.py`` (one prompt pass per question for all its samples, ended samples leave the
batch) and draws from its own seeded generator, so its draws differ from ``generate``'s; the ratio
is its overhead less what the decoder saves. Best of ``--rounds`` interleaved rounds (shared machine).
    python benchmarks/identify_sampling.py --model smollm2-135m-instruct --questions 32 --samples 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zlib
from pathlib import Path

from _report import emit  # benchmarks/ is on sys.path when a script runs


def main() -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from hneuron_eval.harness.builtin_models import resolve_pretrained
    from hneuron_eval.identify import questions as D
    from hneuron_eval.identify.prompt_ids import prompt_ids
    from hneuron_eval.identify.sampling import Sampler, SamplingConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--questions", type=int, default=32)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    path = resolve_pretrained(args.model)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    questions = D.triviaqa_dev().questions[:args.questions]
    cfg = SamplingConfig(samples=args.samples, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    sampler = Sampler(model, tok, cfg)

    def plain() -> int:
        """The limit: left-padded batches straight into generate with the same settings, nothing else."""
        n = 0
        for s in range(0, len(questions), cfg.batch_size):
            batch = questions[s:s + cfg.batch_size]
            enc = [prompt_ids(tok, q.question) for q in batch]
            width = max(map(len, enc))
            ids = torch.tensor([[sampler.pad_id] * (width - len(p)) + p for p in enc])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in enc])
            gen = GenerationConfig(do_sample=True, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
                                   max_new_tokens=cfg.max_new_tokens, num_return_sequences=cfg.samples,
                                   pad_token_id=sampler.pad_id, eos_token_id=sorted(sampler.end_ids))
            torch.manual_seed(cfg.seed * 1_000_003 + zlib.crc32(batch[0].id.encode()))
            with torch.inference_mode():
                out = model.generate(input_ids=ids, attention_mask=mask, generation_config=gen)
            n += out.shape[0]
        return n

    def stage() -> int:
        with tempfile.TemporaryDirectory() as tmp:
            recs = sampler.run(questions, Path(tmp) / "s.jsonl", "bench")
        return sum(len(r["responses"]) for r in recs)

    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, fn in (("stage", stage), ("plain_generate", plain)):
            t0 = time.perf_counter()
            n = fn()
            rate = n / (time.perf_counter() - t0)
            best[name] = max(best.get(name, 0.0), rate)
    result = {"model": args.model, "questions": args.questions, "samples": args.samples, "batch_size": args.batch_size,
              "max_new_tokens": args.max_new_tokens, "rounds": args.rounds,
              "answers_per_s": best, "stage_vs_plain": best["stage"] / best["plain_generate"]}
    emit(result, args.out)


if __name__ == "__main__":
    main()
