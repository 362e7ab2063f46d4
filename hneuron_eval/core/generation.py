"""Batched decoding that drops finished rows: no decode step is spent on a row whose answer has ended.

HF's ``generate`` keeps every row of a batch in each forward pass until the last row stops, so a
batch of short answers pays for its longest one. ``generate`` here runs the same decoding (greedy,
or temperature / top-k / top-p sampling) with the model's own KV cache, and removes the rows that
produced an end token or whose text reached a stop sequence from the batch, its attention mask and
its cache (once they are a set share of it: each removal copies the cache). With ``slots`` below
the number of prompts, waiting prompts take the freed places: their prompt pass runs on its own and
its cache joins the running one, left-padded to the same past (continuous batching). Each row sees
the inputs, positions and mask it would see alone; only the rows it shares a forward pass with change.

Forward hooks that need to know which rows a call holds (the detector) read ``active_rows()``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

#: (rows of the original batch in this forward call, original batch size), set around each call
_ACTIVE: ContextVar[tuple[torch.Tensor, int] | None] = ContextVar("hneuron_active_rows", default=None)

#: generation-config fields whose non-default value changes the logits or the stopping of greedy decoding
_UNSUPPORTED = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0,
                "bad_words_ids": None, "force_words_ids": None, "min_length": 0, "min_new_tokens": None,
                "suppress_tokens": None, "begin_suppress_tokens": None, "forced_bos_token_id": None,
                "forced_eos_token_id": None, "sequence_bias": None, "exponential_decay_length_penalty": None,
                "renormalize_logits": False, "num_beams": 1, "num_beam_groups": 1, "penalty_alpha": None,
                "guidance_scale": None, "watermarking_config": None, "typical_p": 1.0, "epsilon_cutoff": 0.0,
                "eta_cutoff": 0.0, "min_p": None, "top_h": None, "stop_strings": None, "prefill_chunk_size": None,
                "assistant_model": None, "prompt_lookup_num_tokens": None, "cache_implementation": None}


def active_rows() -> tuple[torch.Tensor, int] | None:
    """(original row of each batch row, original batch size) inside ``generate``'s forward calls, else None."""
    return _ACTIVE.get()


@dataclass(frozen=True)
class Sampling:
    """Multinomial sampling after HF's temperature, top-k and top-p warpers, in that order (as ``generate``);
    with top-k, drawn from the candidates only, the same distribution."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def warp(self, scores: torch.Tensor) -> torch.Tensor:
        from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        if self.temperature != 1.0:
            scores = TemperatureLogitsWarper(self.temperature)(None, scores)
        if self.top_k:
            scores = TopKLogitsWarper(self.top_k)(None, scores)
        if self.top_p < 1.0:
            scores = TopPLogitsWarper(self.top_p)(None, scores)
        return scores

    def candidates(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(probabilities, their token ids or None for the whole vocabulary): ``warp``'s distribution, on the
        top-k candidates only where top-k applies (sorting and drawing from the full vocabulary cost more
        than a decode step's matrix products in bfloat16)."""
        width = min(2 * self.top_k, scores.shape[-1])
        if not self.top_k or width == scores.shape[-1]:
            return torch.softmax(self.warp(scores), dim=-1), None
        from transformers import TemperatureLogitsWarper, TopPLogitsWarper

        if self.temperature != 1.0:
            scores = TemperatureLogitsWarper(self.temperature)(None, scores)
        values, ids = torch.topk(scores, width, dim=-1)
        kth = values[:, self.top_k - 1:self.top_k]
        if bool((values[:, -1:] >= kth).any()):  # ties at the k-th score run past the candidates (warp keeps ties)
            return torch.softmax(self.warp(scores), dim=-1), None
        values = values.masked_fill(values < kth, -float("inf"))
        if self.top_p < 1.0:
            values = TopPLogitsWarper(self.top_p)(None, values)
        return torch.softmax(values, dim=-1), ids

    def draw(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One sampled token id per row."""
        probs, ids = self.candidates(scores)
        picked = torch.multinomial(probs, 1, generator=generator)
        return (picked if ids is None else ids.gather(1, picked)).squeeze(1)


@dataclass
class Generation:
    """Context plus generated ids per row (pad after a row ended), with what the decoding cost."""

    sequences: torch.Tensor
    lengths: list[int]  # generated tokens per row, its end token included
    steps: int = 0  # forward calls after the prompt's
    row_steps: int = 0  # batch rows summed over those calls
    useful_row_steps: int = 0  # of those, rows whose answer had not ended

    def cost(self) -> dict[str, int]:
        return {"decode_steps": self.steps, "row_steps": self.row_steps, "useful_row_steps": self.useful_row_steps}


def unsupported(model: nn.Module, overrides: dict[str, Any] | None = None) -> list[str]:
    """Why ``generate`` cannot reproduce ``model.generate`` with these settings (empty: it can)."""
    config = getattr(model, "generation_config", None)
    settings = {**(config.to_dict() if config is not None else {}), **(overrides or {})}
    reasons = [f"{key}={settings[key]!r}" for key, default in _UNSUPPORTED.items()
               if settings.get(key) not in (None, default, [], {})]
    if getattr(model.config, "is_encoder_decoder", False):
        reasons.append("encoder-decoder model")
    dynamic = getattr(model, "_supports_default_dynamic_cache", None)  # a classmethod or a method, by version
    if (callable(dynamic) and not dynamic()) or not _forward_accepts(model, "use_cache"):
        reasons.append("no default KV cache")
    return reasons


def _forward_accepts(model: nn.Module, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


def _new_cache(model: nn.Module) -> Any:
    from transformers import DynamicCache

    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    try:
        return DynamicCache(config=config)
    except TypeError:  # transformers 4.x builds its layers lazily
        return DynamicCache()


@contextlib.contextmanager
def _rows(rows: torch.Tensor, total: int) -> Iterator[None]:
    token = _ACTIVE.set((rows, total))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _left_pad(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """``t`` with zeros prepended along ``dim`` up to ``width``."""
    missing = width - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def _mergeable(cache: Any) -> bool:
    """Whether two caches of this kind can be joined along the batch (full and sliding-window attention layers)."""
    return all(type(layer).__name__ in ("DynamicLayer", "DynamicSlidingWindowLayer")
               for layer in getattr(cache, "layers", [None]))


def _join(cache: Any, other: Any, length: int) -> None:
    """Append ``other``'s rows to ``cache``, both right-aligned to a common past of ``length`` positions.

    The shorter side is padded on the left with zeros that its attention mask hides, which is
    what a left-padded batch holds: each row keeps its own positions and attends to its own tokens.
    """
    for mine, theirs in zip(cache.layers, other.layers):
        stored = max(mine.keys.shape[-2], theirs.keys.shape[-2])
        mine.keys = torch.cat([_left_pad(mine.keys, stored, -2), _left_pad(theirs.keys, stored, -2)])
        mine.values = torch.cat([_left_pad(mine.values, stored, -2), _left_pad(theirs.values, stored, -2)])
        if hasattr(mine, "cumulative_length"):  # a sliding-window layer keeps only its window, and the past's length
            mine.cumulative_length = length


class _Batch:
    """The rows decoding together: their cache, 2D attention mask, next positions, original row numbers, liveness."""

    def __init__(self, cache: Any, rows: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor):
        self.cache, self.rows, self.mask, self.positions = cache, rows, mask, positions
        self.alive = torch.ones(len(rows), dtype=torch.bool, device=rows.device)

    def keep(self, index: torch.Tensor) -> None:
        self.cache.batch_select_indices(index)
        self.rows, self.mask, self.positions = self.rows[index], self.mask[index], self.positions[index]
        self.alive = self.alive[index]
        lead = int(self.mask.any(dim=0).long().argmax())  # columns no remaining row attends to
        if lead and all(type(layer).__name__ == "DynamicLayer" for layer in getattr(self.cache, "layers", [None])):
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[..., lead:, :], layer.values[..., lead:, :]
            self.mask = self.mask[:, lead:]

    def drop_ended(self) -> None:
        self.keep(self.alive.nonzero().squeeze(1))

    def join(self, other: _Batch) -> None:
        length = max(self.mask.shape[1], other.mask.shape[1])
        _join(self.cache, other.cache, length)
        self.rows = torch.cat([self.rows, other.rows])
        self.mask = torch.cat([_left_pad(self.mask, length, 1), _left_pad(other.mask, length, 1)])
        self.positions = torch.cat([self.positions, other.positions])
        self.alive = torch.cat([self.alive, other.alive])


@torch.inference_mode()
def generate(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, max_new_tokens: int,
             end_ids: Sequence[int], pad_id: int, stop: Callable[[list[list[int]]], list[bool]] | None = None,
             sampling: Sampling | None = None, repeats: int = 1, generator: torch.Generator | None = None,
             slots: int | None = None, admit_at: float = 0.25, compact_at: float = 0.125,
             progress: Callable[[int], None] | None = None) -> Generation:
    """Decode up to ``max_new_tokens`` per row (``repeats`` rows per prompt), dropping each row once it has ended.

    A row ends at a token of ``end_ids`` or when ``stop`` (given the generated ids of the live rows)
    says so. ``sampling`` None is greedy. Rows of a prompt share its prompt forward pass.
    ``slots`` (default: every row) caps the rows decoding at once: prompts wait in order and join
    the running batch, prompt pass first, whenever at least ``admit_at`` of the slots are free
    (continuous batching). Ended rows leave the batch once they are at least ``compact_at`` of it
    (0: at once; each removal copies the cache, each ended row kept costs its share of a step);
    leaving, they take with them the cache columns no remaining row attends to. ``progress`` is
    told how many rows ended after each step.
    """
    device = input_ids.device
    n_prompts, width = input_ids.shape
    prompt_mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
    total = n_prompts * repeats
    slots = total if slots is None else max(int(slots), repeats)
    takes = {name: _forward_accepts(model, name) for name in ("position_ids", "cache", "cache_position",
                                                              "logits_to_keep")}
    cache_key = "cache" if takes["cache"] else "past_key_values"
    ends = torch.tensor(sorted(set(end_ids)), device=device)
    out = torch.full((total, max_new_tokens), pad_id, dtype=torch.long, device=device)
    lengths = [0] * total
    gen = Generation(torch.empty(0), lengths)

    def forward(batch: _Batch, ids: torch.Tensor, past: int) -> torch.Tensor:
        kwargs: dict[str, Any] = {"input_ids": ids, cache_key: batch.cache, "use_cache": True}
        if not bool((batch.mask == 1).all()):  # generate drops an all-ones mask: attention takes its unmasked path
            kwargs["attention_mask"] = batch.mask
        if takes["position_ids"]:
            kwargs["position_ids"] = batch.positions[:, -ids.shape[1]:]
        if takes["cache_position"]:
            kwargs["cache_position"] = torch.arange(past, past + ids.shape[1], device=device)
        if takes["logits_to_keep"]:
            kwargs["logits_to_keep"] = 1
        with _rows(batch.rows, total):
            return model(**kwargs).logits[:, -1].to(dtype=torch.float32, copy=True)

    def prefill(first: int, count: int) -> tuple[_Batch, torch.Tensor]:
        """The prompt pass of prompts [first, first + count), trimmed to their own padding, rows repeated."""
        mask = prompt_mask[first:first + count]
        cut = int((mask.sum(dim=0) > 0).nonzero()[0]) if bool(mask.any()) else width - 1
        ids, mask = input_ids[first:first + count, cut:], mask[:, cut:]
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
        rows = torch.arange(first * repeats, (first + count) * repeats, device=device)
        batch = _Batch(_new_cache(model), rows[::repeats] if repeats > 1 else rows, mask, positions)
        logits = forward(batch, ids, 0)
        if repeats > 1:
            batch.cache.batch_repeat_interleave(repeats)
            logits = logits.repeat_interleave(repeats, dim=0)
            batch.mask = mask.repeat_interleave(repeats, dim=0)
            batch.positions = positions.repeat_interleave(repeats, dim=0)[:, -1:]
            batch.rows, batch.alive = rows, batch.alive.repeat_interleave(repeats)
        else:
            batch.positions = positions[:, -1:]
        return batch, logits

    running: _Batch | None = None
    logits = torch.empty(0, device=device)
    waiting = 0  # the next prompt to admit
    while max_new_tokens > 0:
        free = slots - (0 if running is None else int(running.alive.sum()))
        if waiting < n_prompts and free >= repeats and (
                running is None or (free >= admit_at * slots and _mergeable(running.cache))):
            count = min(free // repeats, n_prompts - waiting)
            joined, first = prefill(waiting, count)
            waiting += count
            if running is None:
                running, logits = joined, first
            else:
                logits = logits[running.alive]
                running.drop_ended()  # the cache is copied to join anyway
                running.join(joined)
                logits = torch.cat([logits, first])
        if running is None:
            break
        if sampling is None:
            token = logits.argmax(dim=-1)
        else:
            token = sampling.draw(logits, generator)
        live = running.alive.nonzero().squeeze(1)
        rows = running.rows[live].tolist()
        out[running.rows[live], torch.tensor([lengths[r] for r in rows], device=device)] = token[live]
        for r in rows:
            lengths[r] += 1
        done = torch.isin(token[live], ends) | torch.tensor([lengths[r] >= max_new_tokens for r in rows],
                                                            device=device)
        if stop is not None and not bool(done.all()):
            going = (~done).nonzero().squeeze(1)
            flags = stop([out[r, :lengths[r]].tolist() for r in running.rows[live[going]].tolist()])
            done[going[torch.tensor(flags, dtype=torch.bool, device=device)]] = True
        if progress is not None and bool(done.any()):
            progress(int(done.sum()))
        running.alive[live[done]] = False
        alive = int(running.alive.sum())
        if alive == 0:
            running = None
            continue
        ended = len(running.rows) - alive
        if ended and ended >= compact_at * len(running.rows):  # ended rows leave the batch and the cache
            token = token[running.alive]
            running.drop_ended()
        logits = _decode(forward, running, token)
        gen.steps += 1
        gen.row_steps += len(running.rows)
        gen.useful_row_steps += alive
    gen.sequences = torch.cat([input_ids.repeat_interleave(repeats, dim=0), out[:, :max(lengths, default=0)]], dim=1)
    return gen


def _decode(forward: Callable[[_Batch, torch.Tensor, int], torch.Tensor], batch: _Batch,
            token: torch.Tensor) -> torch.Tensor:
    """One decoding step of the running rows: feed each its last token, return the next token's logits."""
    batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
    batch.positions = batch.positions + 1
    return forward(batch, token[:, None], batch.mask.shape[1] - 1)
