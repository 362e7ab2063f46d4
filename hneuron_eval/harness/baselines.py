"""Output-only baselines of the in-harness detector: the model's own token probabilities over the answer.

What a reviewer tries before a probe on neurons (lm-polygraph's information-based family): the
mean and the minimum log-probability of the answer's tokens, their mean entropy and the answer's
perplexity. They are read from the logits of the same generation, by a forward hook on the model,
over the detector's own answer span (``core/answer_span.py``): no extra forward pass.

Token k of a row is chosen from the logits of the row's call k; its log-probability is read when
it is fed back at call k+1 (the fed id is the chosen one, whatever the decoding rule). A row's last
token is never fed back; it is read off the distribution it came from when it is that
distribution's most probable token (always, under greedy decoding), else left out and counted.
Memory: the log-probabilities of the latest decoding call and of a joining prompt pass, no more.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hneuron_eval.core.generation import active_rows
from hneuron_eval.core.hooks import forward_hooks

#: baseline -> its direction: +1 when a higher value means "more likely hallucinated", -1 when lower does
BASELINES: dict[str, int] = {"mean_logprob": -1, "min_logprob": -1, "mean_entropy": 1, "perplexity": 1}
#: what each per-document record holds, in this order (answer_tokens: the span's length, for the length analysis)
STATISTICS = (*BASELINES, "answer_tokens")


@dataclass
class TokenRecording:
    """Per generation row: the log-probability of each generated token fed back and the entropy it was drawn from."""

    logprob: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    entropy: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    top: dict[int, tuple[int, float]] = field(default_factory=dict)  # row -> (argmax id, its log-prob), last call
    pending: dict[int, tuple[int, int]] = field(default_factory=dict)  # row -> (call, position) of its last call
    calls: dict[int, torch.Tensor] = field(default_factory=dict)  # call -> its log-probabilities, while pending
    n_calls: int = 0

    def hook(self, module: nn.Module, args: tuple, kwargs: dict, output) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        logits = output.logits if hasattr(output, "logits") else output[0]
        lp = torch.log_softmax(logits.detach()[:, -1].float(), dim=-1)
        entropy = torch.special.entr(lp.exp()).sum(dim=-1).tolist()
        top_lp, top_id = lp.max(dim=-1)
        active = active_rows()
        rows = list(range(lp.shape[0])) if active is None else active[0].tolist()
        fed = ids[:, -1].tolist()
        waiting = [(pos, r) for pos, r in enumerate(rows) if r in self.pending]
        by_call: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for pos, r in waiting:
            by_call[self.pending[r][0]].append((pos, r))
        for call, members in by_call.items():  # the fed token's log-probability under the call it came from
            at = torch.tensor([self.pending[r][1] for _, r in members])
            values = self.calls[call][at, torch.tensor([fed[pos] for pos, _ in members])].tolist()
            for (_, r), v in zip(members, values):
                self.logprob[r].append(v)
        if waiting:  # a decoding step: rows not in it have left the batch, their last token is never fed
            here = set(rows)
            self.pending = {r: p for r, p in self.pending.items() if r in here}
        call = self.n_calls
        self.n_calls += 1
        for pos, (r, ent, i, v) in enumerate(zip(rows, entropy, top_id.tolist(), top_lp.tolist())):
            self.entropy[r].append(ent)
            self.top[r] = (i, v)
            self.pending[r] = (call, pos)
        self.calls[call] = lp
        live = {c for c, _ in self.pending.values()}
        for c in [c for c in self.calls if c not in live]:
            del self.calls[c]

    def statistics(self, row: int, tokens: list[int], start: int, end: int) -> tuple[dict[str, float] | None, str]:
        """The baselines of the answer tokens [start, end) of ``row`` (its generated ids ``tokens``), and a note."""
        if end <= start:
            return None, "no answer tokens"
        lps = self.logprob[row][start:end]
        note = "scored"
        if len(lps) < end - start:  # the row's last token, never fed back
            last = end - 1
            top_id, top_lp = self.top.get(row, (None, math.nan))
            if last == len(self.logprob[row]) and tokens[last] == top_id:
                lps = [*lps, top_lp]
            else:
                note = "last answer token's probability unknown (not fed back, not the most probable)"
        if not lps:
            return None, note
        return span_statistics(lps, self.entropy[row][start:end]), note


def span_statistics(logprobs: list[float], entropies: list[float]) -> dict[str, float]:
    """The baselines of one answer span from its tokens' log-probabilities and entropies (the one formula)."""
    mean = float(np.mean(logprobs))
    return {"mean_logprob": mean, "min_logprob": float(np.min(logprobs)),
            "mean_entropy": float(np.mean(entropies)), "perplexity": math.exp(-mean),
            "answer_tokens": float(len(entropies))}


def teacher_forced(model: nn.Module, rows: list, pad_id: int = 0, batch_size: int = 8) -> list[dict[str, float] | None]:
    """The baselines of stored responses (``core.cett.FeatureRow``), fed whole: one forward pass per batch.

    Identification's evaluation sets score them so, as the harness scores its own generations:
    token k's log-probability and entropy come from the distribution at the position before it.
    """
    from hneuron_eval.core.cett import CETTExtractor

    batcher = CETTExtractor(model, padding_side="right", pad_id=pad_id)
    out: list[dict[str, float] | None] = []
    for k in range(0, len(rows), batch_size):
        chunk = rows[k:k + batch_size]
        t = {key: v.to(batcher.device) for key, v in batcher.batch_tensors(chunk).items()}
        with torch.inference_mode():
            logits = model(input_ids=t["input_ids"], attention_mask=t["attention_mask"],
                           position_ids=t["position_ids"], use_cache=False).logits
        for i, row in enumerate(chunk):
            at = torch.tensor(list(row.answer_positions()), dtype=torch.long)
            if not len(at):
                out.append(None)
                continue
            lp = torch.log_softmax(logits[i, at - 1].float(), dim=-1)
            chosen = lp[torch.arange(len(at)), t["input_ids"][i, at]].tolist()
            out.append(span_statistics(chosen, torch.special.entr(lp.exp()).sum(dim=-1).tolist()))
    return out


@contextlib.contextmanager
def watch_tokens(model: nn.Module) -> Iterator[TokenRecording]:
    """Record the answer-token probabilities of every forward call of ``model`` inside the block; hook removed after."""
    rec = TokenRecording()
    with forward_hooks(post_kwargs=[(model, rec.hook)]):
        yield rec
