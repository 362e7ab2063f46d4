"""Stage 3: CETT features, |z_j| * ||W_down[:, j]|| / ||h||, averaged over answer tokens and over the other tokens.

z is the down projection's input and h = W_down z its output without bias. One batched forward
pass of the model body (no LM head, no logits) per batch, with forward hooks only on the down
projections; each hook reduces its layer to two (batch, d_ff) means at once, so no per-token
activation is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hneuron_eval.core.sites import FFNLayout, resolve_ffn, unwrap


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


def column_norms(layout: FFNLayout) -> list[torch.Tensor]:
    """||W_down[:, j]||_2 per layer, float32 (one value per neuron)."""
    out = []
    for module in layout.down_projs:
        weight = getattr(module, "base_layer", module).weight.detach().float()
        out.append(weight.norm(dim=1 if layout.transposed else 0))
    return out


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
        self.norms = column_norms(self.layout)
        self.biases = [getattr(getattr(m, "base_layer", m), "bias", None) for m in self.layout.down_projs]
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
            norm, bias = self.norms[layer].to(self.device), self.biases[layer]

            def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
                z = args[0].float()
                h = output.float() if bias is None else output.float() - bias.float()
                w = weights / h.norm(dim=-1).clamp_min(1e-12).unsqueeze(1)  # (B, 2, T)
                both = torch.bmm(w, z.abs()) * norm  # (B, 2, F)
                ans[:, layer] = both[:, 0]
                oth[:, layer] = both[:, 1]

            return hook

        handles = [m.register_forward_hook(hook_for(i)) for i, m in enumerate(self.layout.down_projs)]
        try:
            with torch.inference_mode():
                self.body(
                    input_ids=t["input_ids"],
                    attention_mask=t["attention_mask"],
                    position_ids=t["position_ids"],
                    use_cache=False,
                )
        finally:
            for h in handles:
                h.remove()
        return ans.reshape(n, L * F).cpu().numpy(), oth.reshape(n, L * F).cpu().numpy()


def direct_cett(model: nn.Module, row: FeatureRow) -> tuple[np.ndarray, np.ndarray]:
    """Reference: one unpadded sequence, CETT[l, t, j] computed token by token from W_down explicitly."""
    layout = resolve_ffn(model)
    captured: dict[int, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda mod, a, o, i=i: captured.__setitem__(i, a[0][0].detach().double()))
               for i, m in enumerate(layout.down_projs)]
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor([row.ids]))
    finally:
        for h in handles:
            h.remove()
    answer = set(row.answer_positions())
    L, F = layout.num_layers, layout.d_ff
    ans, oth = np.zeros((L, F)), np.zeros((L, F))
    for layer, module in enumerate(layout.down_projs):
        W = module.weight.detach().double()
        W = W.T if layout.transposed else W  # (d_model, d_ff)
        z = captured[layer]
        a_rows, o_rows = [], []
        for pos in range(z.shape[0]):
            h = W @ z[pos]
            cett = z[pos].abs() * W.norm(dim=0) / h.norm()
            (a_rows if pos in answer else o_rows).append(cett.numpy())
        if a_rows:
            ans[layer] = np.mean(a_rows, axis=0)
        if o_rows:
            oth[layer] = np.mean(o_rows, axis=0)
    return ans.reshape(-1), oth.reshape(-1)
