"""Stage 1: batched sampling of answers, rule judging, and the consistency filter."""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from hneuron_eval.core.generation import Sampling, generate
from hneuron_eval.identify.jsonl import append_records, read_records
from hneuron_eval.identify.prompt_ids import is_chat, prompt_ids
from hneuron_eval.identify.questions import Question
from hneuron_eval.judges import RULE

LABELS = ("faithful", "hallucinated", "mixed", "abstained")


@dataclass(frozen=True)
class SamplingConfig:
    """Generation settings; the defaults are the paper's (temperature 0 = greedy)."""

    samples: int = 10
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 0.9
    max_new_tokens: int = 50
    batch_size: int = 16  # prompts per generate call (each with ``samples`` sequences)
    seed: int = 0


def newline_token_ids(tokenizer: Any) -> list[int]:
    """Ids of every vocabulary token whose text contains a newline."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return [i for i, t in enumerate(texts) if "\n" in t]


def judge(question: Question, text: str) -> str:
    """'correct' / 'wrong' / 'abstain' for one response: the task suite's rule judge (alias match first).

    'abstain' also covers a degenerate reply (empty, loop, echo, stub): it gives no answer to label.
    """
    if question.kind == "qa" and RULE.correct(question.question, text, question.aliases):
        return "correct"
    if RULE.declined(question.question, text) or RULE.degenerate(question.question, text):
        return "abstain"
    return "correct" if question.kind == "real" else "wrong"


def label_of(judgements: list[str]) -> str:
    """Consistency filter: faithful = all correct, hallucinated = all wrong; else mixed / abstained."""
    kinds = set(judgements)
    if {"correct", "wrong"} <= kinds:
        return "mixed"
    if "abstain" in kinds:
        return "abstained"
    return "faithful" if kinds == {"correct"} else "hallucinated"


class Sampler:
    """Generates ``samples`` answers per question in batches and appends judged records to a JSONL file."""

    def __init__(self, model: Any, tokenizer: Any, config: SamplingConfig):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = (
            model.generation_config.eos_token_id
            if model.generation_config.eos_token_id is not None
            else tokenizer.eos_token_id
        )
        self.end_ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
        if not is_chat(tokenizer):
            self.end_ids |= set(newline_token_ids(tokenizer))
        self.cost: Counter[str] = Counter()  # decode steps and row-steps of every batch (core.generation)

    def generate(self, prompts: list[list[int]], seed: int) -> list[list[list[int]]]:
        """Sampled response token ids (cut at EOS / newline), ``samples`` per prompt.

        Each prompt's forward pass is shared by its samples, and a response leaves the batch as soon
        as it ends (``core/generation.py``); the draws come from a generator seeded with ``seed``.
        """
        cfg = self.config
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding: generation continues from the last column
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        device = next(self.model.parameters()).device
        sampling = Sampling(cfg.temperature, cfg.top_k, cfg.top_p) if cfg.temperature > 0 else None
        generator = torch.Generator(device=device).manual_seed(seed)
        result = generate(self.model, ids.to(device), mask.to(device), cfg.max_new_tokens, sorted(self.end_ids),
                          self.pad_id, sampling=sampling, repeats=cfg.samples, generator=generator)
        self.cost.update(result.cost())
        responses = []
        for seq, n in zip(result.sequences[:, width:].tolist(), result.lengths):
            seq = seq[:n]
            cut = next((k for k, t in enumerate(seq) if t in self.end_ids), len(seq))
            responses.append(seq[:cut])
        return [responses[i * cfg.samples:(i + 1) * cfg.samples] for i in range(len(prompts))]

    def run(self, questions: list[Question], path: str | Path, desc: str = "sampling") -> list[dict[str, Any]]:
        """Sample every question not yet in ``path`` (resumes), returning all records in question order."""
        done = {r["id"]: r for r in read_records(path)}
        todo = [q for q in questions if q.id not in done]
        bs = self.config.batch_size
        with tqdm(total=len(questions), initial=len(questions) - len(todo), desc=desc, unit="q") as bar:
            for start in range(0, len(todo), bs):
                batch = todo[start:start + bs]
                prompts = [prompt_ids(self.tokenizer, q.question) for q in batch]
                seed = self.config.seed * 1_000_003 + zlib.crc32(batch[0].id.encode())
                outs = self.generate(prompts, seed)
                records = [self.record(q, p, o) for q, p, o in zip(batch, prompts, outs)]
                append_records(path, records)
                done.update((r["id"], r) for r in records)
                bar.update(len(batch))
        return [done[q.id] for q in questions]

    def record(self, question: Question, prompt: list[int], responses: list[list[int]]) -> dict[str, Any]:
        texts = [self.tokenizer.decode(r, skip_special_tokens=True) for r in responses]
        judgements = [judge(question, t) for t in texts]
        return {
            "id": question.id,
            "question": question.question,
            "aliases": list(question.aliases),
            "kind": question.kind,
            "prompt_ids": prompt,
            "responses": [{"ids": r, "text": t, "judgement": j} for r, t, j in zip(responses, texts, judgements)],
            "label": label_of(judgements),
        }


def label_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r["label"] for r in records)
    return {k: counts.get(k, 0) for k in LABELS}
