"""``hneuron-hf``: lm-eval's HF model with H-neurons scaled during every forward pass."""

from __future__ import annotations

import logging
from typing import Any

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from hneuron_eval.builtin_models import builtin_info, resolve_pretrained
from hneuron_eval.intervention import MODES, BoundScaling, NeuronScaling
from hneuron_eval.masks import NeuronMask

logger = logging.getLogger(__name__)


@register_model("hneuron-hf")
class HNeuronLM(HFLM):
    """HFLM plus ``mask=`` / ``alpha=`` / ``mode=`` model args; without a mask it is plain ``hf``.

    ``pretrained`` also accepts the offline built-in names (``smollm2-135m-instruct``,
    ``gemma-3-270m``). ``alpha`` overrides the mask's per-neuron / default alphas;
    ``mode`` is ``auto`` (fold when the weights allow it, else hook), ``fold`` or ``hook``.
    The intervention is applied around each model call and undone after it, so the
    model's weights are unchanged between calls and after the run.
    """

    def __init__(
        self,
        pretrained: Any,
        mask: str | None = None,
        alpha: float | str | None = None,
        mode: str = "auto",
        **kwargs: Any,
    ) -> None:
        if alpha is not None and mask is None:
            raise ValueError("hneuron-hf: alpha= was given without mask=; pass mask=PATH.hneurons.json")
        if mode not in MODES:
            raise ValueError(f"hneuron-hf: mode must be one of {MODES}, got {mode!r}")
        self.pretrained_name = pretrained if isinstance(pretrained, str) else None
        if isinstance(pretrained, str):
            pretrained = resolve_pretrained(pretrained)
        super().__init__(pretrained=pretrained, **kwargs)
        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None and accelerator.num_processes > 1 and self.world_size == 1:
            # HFLM shards requests across processes only when it counts more than one GPU
            # (lm_eval/models/huggingface.py `elif gpus > 1`); on CPU (gloo) every process would
            # otherwise evaluate every document. The evaluator's gathers work the same on CPU.
            self._rank, self._world_size = accelerator.process_index, accelerator.num_processes
        self.scaling: BoundScaling | None = None
        if mask is not None:
            self.set_scaling(NeuronMask.load(mask), _parse_alpha(alpha), mode)

    def set_scaling(self, mask: NeuronMask | None, alpha: float | None = None, mode: str = "auto") -> None:
        """Replace the intervention (None: none) without reloading the model, as a sweep does between runs."""
        if mask is None:
            self.scaling = None
            return
        # layout, plan and mode are settled here, once per intervention
        self.scaling = NeuronScaling(mask, alpha, mode).bind(self.model)  # type: ignore[arg-type]
        logger.info("hneuron-hf: %s", self.scaling.to_dict())

    def _model_call(self, *args: Any, **kwargs: Any):
        if self.scaling is None:
            return super()._model_call(*args, **kwargs)
        with self.scaling.apply():
            return super()._model_call(*args, **kwargs)

    def _model_generate(self, *args: Any, **kwargs: Any):
        if self.scaling is None:
            return super()._model_generate(*args, **kwargs)
        with self.scaling.apply():
            return super()._model_generate(*args, **kwargs)

    def get_model_info(self) -> dict:
        info = super().get_model_info()
        info["hneuron"] = self.scaling.to_dict() if self.scaling is not None else None
        if self.pretrained_name is not None and (builtin := builtin_info(str(self.pretrained))) is not None:
            info["hneuron_builtin_model"] = builtin
        return info


def _parse_alpha(alpha: float | str | None) -> float | None:
    if alpha is None or (isinstance(alpha, str) and alpha.lower() in ("", "none", "default")):
        return None
    try:
        return float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"hneuron-hf: alpha must be a number, got {alpha!r}") from None
