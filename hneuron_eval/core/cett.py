"""CETT, |z_j| * ||W_down[:, j]|| / ||h||: the one formula, and its batched extraction over answer and other tokens.

z is the down projection's input and h = W_down z its output without bias. ``cett`` is used by
identification (``CETTExtractor``) and by the detector inside lm-eval alike. The extractor runs one
batched forward pass of the model body (no LM head, no logits) per batch, with forward hooks only
on the down projections; each hook reduces its layer to two (batch, d_ff) means at once, so no
per-token activation outlives its layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hneuron_eval.core.hooks import forward_hooks
from hneuron_eval.core.sites import base_layer, resolve_ffn, unwrap


@dataclass(frozen=True)
class FeatureRow:
    """One sequence: prompt + response token ids and the answer span inside the response."""

    id: str
    prompt_ids: list[int]
    response_ids: list[int]
    span: tuple[int, int]  # [start, end) within response_ids

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.response_ids

    def answer_positions(self) -> range:
        offset = len(self.prompt_ids)
        return range(offset + self.span[0], offset + self.span[1])


def column_norms(module: nn.Module, transposed: bool, neurons: torch.Tensor | None = None) -> torch.Tensor:
    """||W_down[:, j]||_2 of one down projection's neurons (all, or ``neurons``), float32, read now."""
    weight = base_layer(module).weight.detach().float()
    weight = weight.T if transposed else weight  # (d_model, d_ff)
    return (weight if neurons is None else weight[:, neurons]).norm(dim=0)


def cett(z: torch.Tensor, output: torch.Tensor, norms: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """CETT of neurons ``z`` (..., n) given the projection's ``output`` (..., d_model), in float32.

    ``norms`` are those neurons' column norms; ``bias`` (or None) is taken off ``output`` to get h = W_down z.
    """
    h = output.float() if bias is None else output.float() - bias.float()
    return z.float().abs() * norms.to(z.device) / h.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def model_body(model: nn.Module) -> nn.Module:
    """The decoder without its LM head, so no logits are computed."""
    inner = unwrap(model)
    body = getattr(inner, "base_model", inner)
    return body if body is not None else inner


class CETTExtractor:
    """Batched CETT extraction: ``extract(rows)`` -> (answer, other) arrays of shape (B, num_layers * d_ff)."""

    def __init__(self, model: nn.Module, padding_side: str = "right", pad_id: int = 0):
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        self.model, self.padding_side, self.pad_id = model, padding_side, pad_id
        self.layout = resolve_ffn(model)
        self.norms = [column_norms(m, self.layout.transposed) for m in self.layout.down_projs]
        self.biases = [getattr(base_layer(m), "bias", None) for m in self.layout.down_projs]
        self.body = model_body(model)
        self.device = next(model.parameters()).device

    @property
    def width(self) -> int:
        return self.layout.num_neurons

    def batch_tensors(self, rows: list[FeatureRow]) -> dict[str, torch.Tensor]:
        """Padded ids, attention mask, position ids and the two per-position averaging weights."""
        width = max(len(r.ids) for r in rows)
        n = len(rows)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        w_ans = torch.zeros((n, width), dtype=torch.float32)
        w_oth = torch.zeros((n, width), dtype=torch.float32)
        for i, r in enumerate(rows):
            seq = r.ids
            off = width - len(seq) if self.padding_side == "left" else 0
            ids[i, off:off + len(seq)] = torch.tensor(seq)
            mask[i, off:off + len(seq)] = 1
            ans = torch.zeros(len(seq), dtype=torch.bool)
            ans[list(r.answer_positions())] = True
            if ans.any():
                w_ans[i, off:off + len(seq)] = ans.float() / ans.sum()
            if (~ans).any():
                w_oth[i, off:off + len(seq)] = (~ans).float() / (~ans).sum()
        positions = (mask.cumsum(1) - 1).clamp_min(0)  # correct positions under left padding too
        return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "w_ans": w_ans, "w_oth": w_oth}

    def extract(self, rows: list[FeatureRow]) -> tuple[np.ndarray, np.ndarray]:
        """CETT means over answer tokens and over the other (non-answer, non-pad) tokens, float32."""
        t = {k: v.to(self.device) for k, v in self.batch_tensors(rows).items()}
        n, L, F = len(rows), self.layout.num_layers, self.layout.d_ff
        ans = torch.zeros((n, L, F), dtype=torch.float32, device=self.device)
        oth = torch.zeros((n, L, F), dtype=torch.float32, device=self.device)
        weights = torch.stack([t["w_ans"], t["w_oth"]], dim=1)  # (B, 2, T)

        def hook_for(layer: int):
            norms, bias = self.norms[layer].to(self.device), self.biases[layer]

            def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
                both = torch.bmm(weights, cett(args[0], output, norms, bias))  # (B, 2, F): weighted means
                ans[:, layer] = both[:, 0]
                oth[:, layer] = both[:, 1]

            return hook

        self.run_body(t, [(m, hook_for(i)) for i, m in enumerate(self.layout.down_projs)])
        return ans.reshape(n, L * F).cpu().numpy(), oth.reshape(n, L * F).cpu().numpy()

    def run_body(self, t: dict[str, torch.Tensor], hooks: list) -> None:
        """One forward pass of the model body over a batch from ``batch_tensors``, with ``hooks`` registered."""
        with forward_hooks(post=hooks), torch.inference_mode():
            self.body(input_ids=t["input_ids"], attention_mask=t["attention_mask"], position_ids=t["position_ids"],
                      use_cache=False)
