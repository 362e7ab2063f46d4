"""Scale H-neurons inside a model: a serialisable intervention applied in a context manager.

Scaling the down projection's input z[j] by alpha is the same as scaling column j of
W_down by alpha. ``fold`` does the latter in place (no runtime cost) and restores the
exact saved columns on exit; ``hook`` does the former with a forward pre-hook (works
with offloaded, quantised or LoRA-wrapped layers). Both always undo what they did.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from hneuron_eval.masks import NeuronMask
from hneuron_eval.sites import FFNLayout, resolve_ffn, unwrap

logger = logging.getLogger(__name__)

Mode = Literal["fold", "hook", "auto"]
MODES = ("fold", "hook", "auto")


class FoldUnsupportedError(TypeError):
    """Fold mode needs a plain, materialised floating-point weight."""


@dataclass(frozen=True)
class NeuronScaling:
    """Scale the neurons of ``mask`` by ``alpha`` (0 ablates, 1 is a no-op, >1 amplifies).

    ``alpha=None`` uses each neuron's own alpha, else the mask's ``default_alpha``; a
    number overrides both, uniformly.
    """

    mask: NeuronMask
    alpha: float | None = None
    mode: Mode = "fold"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.alpha is not None and (isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not math.isfinite(self.alpha)):
            raise ValueError(f"alpha must be a finite number, got {self.alpha!r}")

    def alpha_of(self, own: float | None) -> float:
        """The scale a neuron gets: the override, else its own alpha, else the mask default."""
        if self.alpha is not None:
            return float(self.alpha)
        return own if own is not None else self.mask.default_alpha

    def plan(self) -> dict[int, tuple[list[int], list[float]]]:
        """layer -> (neuron indices, alphas), leaving out neurons whose alpha is exactly 1."""
        out: dict[int, tuple[list[int], list[float]]] = {}
        for layer, neurons in self.mask.by_layer().items():
            pairs = [(n.index, self.alpha_of(n.alpha)) for n in neurons]
            pairs = [(i, a) for i, a in pairs if a != 1.0]
            if pairs:
                out[layer] = ([i for i, _ in pairs], [a for _, a in pairs])
        return out

    def to_dict(self) -> dict[str, Any]:
        """What to record next to results: enough to identify and repeat the intervention."""
        return {
            "mask": self.mask.source,
            "mask_sha256": self.mask.sha256(),
            "mask_model": self.mask.model.name,
            "num_neurons": len(self.mask),
            "share_per_mille": round(1000 * self.mask.share(), 6),
            "alpha": self.alpha if self.alpha is not None else "per-neuron/default",
            "default_alpha": self.mask.default_alpha,
            "mode": self.mode,
        }

    def bind(self, model: nn.Module) -> NeuronScaling:
        """Check the mask fits ``model`` and settle ``auto`` to the mode that will be used."""
        layout, name = self._layout(model)
        made_for = self.mask.model.name
        if made_for and name and Path(made_for).name != Path(name).name:
            # same shape, other name: allowed (e.g. an instruct model's mask on its base model)
            logger.warning("mask %s was made for %r, applying it to %r (same FFN shape)", self.mask.source, made_for, name)
        return replace(self, mode=self._settle(layout))

    @contextlib.contextmanager
    def apply(self, model: nn.Module) -> Iterator[None]:
        """Apply to ``model`` for the duration of the block, then restore it exactly."""
        layout, _ = self._layout(model)
        with (_fold if self._settle(layout) == "fold" else _hook)(layout, self.plan()):
            yield

    def _layout(self, model: nn.Module) -> tuple[FFNLayout, str]:
        layout = resolve_ffn(model)
        name = str(getattr(getattr(unwrap(model), "config", None), "name_or_path", "") or "")
        self.mask.check_compatible(layout.num_layers, layout.d_ff, name)
        return layout, name

    def _settle(self, layout: FFNLayout) -> str:
        if self.mode != "auto":
            return self.mode
        return "fold" if all(_foldable(layout.down_projs[layer]) for layer in self.plan()) else "hook"


def scale_neurons(model: nn.Module, mask: NeuronMask, alpha: float | None = None, mode: Mode = "fold"):
    """Context manager: ``with scale_neurons(model, mask, alpha=0): ...`` ablates the mask."""
    return NeuronScaling(mask, alpha, mode).apply(model)


def _conv1d_type() -> type | None:
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover
        return None
    return Conv1D


def _foldable(module: nn.Module) -> bool:
    try:
        _fold_weight(module)
    except FoldUnsupportedError:
        return False
    return True


def _fold_weight(module: nn.Module) -> torch.Tensor:
    conv1d = _conv1d_type()
    if not (isinstance(module, nn.Linear) or (conv1d is not None and isinstance(module, conv1d))):
        raise FoldUnsupportedError(
            f"fold mode needs an nn.Linear/Conv1D down projection, got {type(module).__name__} "
            "(LoRA-wrapped or custom layer): use mode='hook'"
        )
    weight = module.weight
    if weight.device.type == "meta" or not weight.is_floating_point():
        raise FoldUnsupportedError(
            f"fold mode needs materialised floating-point weights, got {weight.dtype} on {weight.device} "
            "(offloaded or quantised): use mode='hook'"
        )
    return weight


@contextlib.contextmanager
def _fold(layout: FFNLayout, plan: dict[int, tuple[list[int], list[float]]]) -> Iterator[None]:
    saved: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    dim = 0 if layout.transposed else 1  # the d_ff axis of the weight
    try:
        with torch.no_grad():
            for layer, (indices, alphas) in plan.items():
                weight = _fold_weight(layout.down_projs[layer])
                idx = torch.tensor(indices, device=weight.device)
                cols = weight.index_select(dim, idx)
                saved.append((weight, idx, cols))
                scale = torch.tensor(alphas, device=weight.device, dtype=torch.float32)
                scale = scale.view(1, -1) if dim == 1 else scale.view(-1, 1)
                weight.index_copy_(dim, idx, (cols.float() * scale).to(weight.dtype))
        yield
    finally:
        with torch.no_grad():
            for weight, idx, cols in reversed(saved):
                weight.index_copy_(0 if layout.transposed else 1, idx, cols)


@contextlib.contextmanager
def _hook(layout: FFNLayout, plan: dict[int, tuple[list[int], list[float]]]) -> Iterator[None]:
    handles = []
    try:
        for layer, (indices, alphas) in plan.items():
            handles.append(layout.down_projs[layer].register_forward_pre_hook(_InputScaler(layout.d_ff, indices, alphas)))
        yield
    finally:
        for handle in handles:
            handle.remove()


class _InputScaler:
    """Forward pre-hook multiplying the last axis of the first input by a per-neuron scale."""

    def __init__(self, d_ff: int, indices: list[int], alphas: list[float]):
        self.scale = torch.ones(d_ff, dtype=torch.float32)
        self.scale[indices] = torch.tensor(alphas, dtype=torch.float32)
        self._cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        key = (x.device, x.dtype)
        scale = self._cache.get(key)
        if scale is None:
            scale = self._cache[key] = self.scale.to(device=x.device, dtype=x.dtype)
        return (x * scale, *args[1:])
