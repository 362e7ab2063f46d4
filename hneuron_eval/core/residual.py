"""The residual stream as features: each decoder layer's output, averaged over the answer tokens.

The dense baseline a reviewer tries first (a SAPLMA-style hidden-state probe) reads these, where
the H-neuron probe reads CETT. Identification extracts them with ``ResidualExtractor`` (one forward
pass of the model body, hooks on the decoder layers); the detector inside lm-eval reads the same
layer outputs during generation (``harness/detector.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from hneuron_eval.core.cett import CETTExtractor, FeatureRow

RESIDUAL_DEFINITION = {
    "feature": "hidden state output by a decoder layer (the residual stream), float32",
    "tokens": "answer tokens of the response (see answer_rule)",
    "aggregation": "mean over those tokens",
    "layout": "flat index = layer * d_model + dimension",
    "positive_class": "hallucinated",
}


def layer_output(output: Any) -> torch.Tensor:
    """The hidden states a decoder layer returns (alone, or first of a tuple)."""
    return output[0] if isinstance(output, tuple) else output


class ResidualExtractor:
    """Batched residual features: ``extract(rows)`` -> (answer, other) arrays of shape (B, num_layers * d_model)."""

    def __init__(self, model: nn.Module, pad_id: int = 0):
        self.batcher = CETTExtractor(model, padding_side="right", pad_id=pad_id)
        self.layout = self.batcher.layout
        if not self.layout.layers or not self.layout.d_model:
            raise ValueError(f"{self.layout.model_type}: the decoder layers were not resolved")

    @property
    def width(self) -> int:
        return self.layout.num_layers * self.layout.d_model

    def extract(self, rows: list[FeatureRow]) -> tuple[np.ndarray, np.ndarray]:
        """Layer outputs averaged over answer tokens and over the other (non-answer, non-pad) tokens, float32."""
        b = self.batcher
        t = {k: v.to(b.device) for k, v in b.batch_tensors(rows).items()}
        n, L, D = len(rows), self.layout.num_layers, self.layout.d_model
        ans = torch.zeros((n, L, D), dtype=torch.float32, device=b.device)
        oth = torch.zeros((n, L, D), dtype=torch.float32, device=b.device)
        weights = torch.stack([t["w_ans"], t["w_oth"]], dim=1)  # (B, 2, T)

        def hook_for(layer: int):
            def hook(module: nn.Module, args: tuple, output: Any) -> None:
                both = torch.bmm(weights, layer_output(output).float())  # (B, 2, D): weighted means
                ans[:, layer], oth[:, layer] = both[:, 0], both[:, 1]

            return hook

        b.run_body(t, [(m, hook_for(i)) for i, m in enumerate(self.layout.layers)])
        return ans.reshape(n, L * D).cpu().numpy(), oth.reshape(n, L * D).cpu().numpy()
