"""The test oracle for CETT: one unpadded sequence, token by token, from W_down in float64, no shared code."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hneuron_eval.core.cett import FeatureRow
from hneuron_eval.core.sites import resolve_ffn


def direct_cett(model: nn.Module, row: FeatureRow) -> tuple[np.ndarray, np.ndarray]:
    """CETT[l, t, j] computed token by token from W_down explicitly, averaged over answer / other tokens."""
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
