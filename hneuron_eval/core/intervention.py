"""Scale H-neurons inside a model: a serialisable intervention, bound once to a model, applied per block.

Scaling the down projection's input z[j] by alpha is the same as scaling column j of
W_down by alpha. ``scale_via="fold"`` does the latter in place (no runtime cost) and restores
the exact saved columns on exit; ``"hook"`` does the former with a forward pre-hook (works
with offloaded, quantised or LoRA-wrapped layers). Both always undo what they did.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from hneuron_eval.core.hooks import forward_hooks
from hneuron_eval.core.masks import NeuronMask
from hneuron_eval.core.run_kind import RunKind
from hneuron_eval.core.sites import FFNLayout, resolve_ffn, unwrap
from hneuron_eval.errors import HNeuronError

logger = logging.getLogger(__name__)

ScaleVia = Literal["fold", "hook", "auto"]
SCALE_VIA = ("fold", "hook", "auto")
#: layer -> (neuron indices, alphas)
Plan = dict[int, tuple[list[int], list[float]]]


class FoldUnsupportedError(HNeuronError, ValueError):
    """Folding was asked for a down projection that is not a plain, materialised floating-point weight."""


@dataclass(frozen=True)
class NeuronScaling:
    """Scale the neurons of ``mask`` by ``alpha`` (0 ablates, 1 is a no-op, >1 amplifies).

    ``alpha=None`` uses each neuron's own alpha, else the mask's ``default_alpha``; a
    number overrides both, uniformly. ``scale_via`` is ``fold`` (the weights' columns, in place),
    ``hook`` (the projection's input) or ``auto`` (fold where the weights allow it).
    """

    mask: NeuronMask
    alpha: float | None = None
    scale_via: ScaleVia = "fold"

    def __post_init__(self) -> None:
        if self.scale_via not in SCALE_VIA:
            raise ValueError(f"scale_via must be one of {SCALE_VIA}, got {self.scale_via!r}")
        alpha = self.alpha
        if alpha is not None and (
            isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha)
        ):
            raise ValueError(f"alpha must be a finite number, got {alpha!r}")
        if alpha is not None and alpha < 0:
            raise ValueError(f"alpha must be >= 0 (0 ablates, 1 leaves the neurons as they are, >1 amplifies), "
                             f"got {alpha!r}")

    def alpha_of(self, own: float | None) -> float:
        """The scale a neuron gets: the override, else its own alpha, else the mask default."""
        if self.alpha is not None:
            return float(self.alpha)
        return own if own is not None else self.mask.default_alpha

    def plan(self) -> Plan:
        """layer -> (neuron indices, alphas), leaving out neurons whose alpha is exactly 1."""
        out: Plan = {}
        for layer, neurons in self.mask.by_layer().items():
            pairs = [(n.index, self.alpha_of(n.alpha)) for n in neurons]
            pairs = [(i, a) for i, a in pairs if a != 1.0]
            if pairs:
                out[layer] = ([i for i, _ in pairs], [a for _, a in pairs])
        return out

    @property
    def kind(self) -> RunKind:
        """Baseline when no neuron changes (every alpha is 1), else the mask's own kind."""
        return self.mask.kind if self.plan() else RunKind.BASELINE

    def to_dict(self) -> dict[str, Any]:
        """What to record next to results: enough to identify and repeat the intervention."""
        return {
            "kind": self.kind.value,
            "mask": self.mask.source,
            "mask_sha256": self.mask.sha256(),
            "mask_model": self.mask.model.name,
            "mask_method": self.mask.provenance.get("method"),
            "mask_seed": self.mask.provenance.get("seed"),
            "num_neurons": len(self.mask),
            "share_per_mille": round(1000 * self.mask.share(), 6),
            "alpha": self.alpha if self.alpha is not None else "per-neuron/default",
            "default_alpha": self.mask.default_alpha,
            "scale_via": self.scale_via,
        }

    def bind(self, model: nn.Module) -> BoundScaling:
        """Resolve ``model``'s FFN layout, check the mask fits, plan, and settle ``auto``: once."""
        layout = resolve_ffn(model)
        name = str(getattr(getattr(unwrap(model), "config", None), "name_or_path", "") or "")
        self.mask.check_compatible(layout.num_layers, layout.d_ff, name)
        made_for = self.mask.model.name
        if made_for and name and Path(made_for).name != Path(name).name:
            # same shape, other name: allowed (e.g. an instruct model's mask on its base model)
            logger.warning(
                "mask %s was made for %r, applying it to %r (same FFN shape)", self.mask.source, made_for, name
            )
        plan = self.plan()
        via = self.scale_via
        if via == "auto":
            via = "fold" if all(_foldable(layout.down_projs[layer]) for layer in plan) else "hook"
        return BoundScaling(layout, plan, via, self)

    def apply(self, model: nn.Module) -> contextlib.AbstractContextManager[None]:
        """Apply to ``model`` for the duration of the block, then restore it exactly."""
        return self.bind(model).apply()


@dataclass(frozen=True)
class BoundScaling:
    """A scaling resolved against one model: ``apply()`` only folds or hooks, nothing is re-checked.

    Bind again after the model's layers are replaced (e.g. LoRA wrapping or quantisation).
    """

    layout: FFNLayout
    plan: Plan
    scale_via: Literal["fold", "hook"]
    scaling: NeuronScaling | None = None  # what it was bound from, for to_dict()
    _work: list[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scale_via not in ("fold", "hook"):
            raise ValueError(f"a bound scaling's scale_via is 'fold' or 'hook', got {self.scale_via!r}")
        downs = self.layout.down_projs
        if self.scale_via == "fold":
            for layer in self.plan:
                _fold_weight(downs[layer])  # refuse here, not in the middle of a run
            work: list[Any] = [
                _FoldColumns(downs[layer], self.layout.transposed, *self.plan[layer]) for layer in self.plan
            ]
        else:
            work = [(downs[layer], _InputScaler(self.layout.d_ff, *self.plan[layer])) for layer in self.plan]
        object.__setattr__(self, "_work", work)

    def to_dict(self) -> dict[str, Any]:
        """The bound scaling's record, with the way (fold or hook) that is actually used."""
        info = self.scaling.to_dict() if self.scaling is not None else {}
        return {**info, "scale_via": self.scale_via}

    @contextlib.contextmanager
    def apply(self) -> Iterator[None]:
        """Scale the planned neurons for the duration of the block, then restore the model exactly."""
        if not self._work:
            yield
        elif self.scale_via == "fold":
            with _fold(self._work):
                yield
        else:
            with forward_hooks(pre=self._work):
                yield


def scale_neurons(
    model: nn.Module, mask: NeuronMask, alpha: float | None = None, scale_via: ScaleVia = "fold"
) -> contextlib.AbstractContextManager[None]:
    """Context manager: ``with scale_neurons(model, mask, alpha=0): ...`` ablates the mask."""
    return NeuronScaling(mask, alpha, scale_via).apply(model)


def _foldable(module: nn.Module) -> bool:
    try:
        _fold_weight(module)
    except FoldUnsupportedError:
        return False
    return True


def _fold_weight(module: nn.Module) -> torch.Tensor:
    from transformers.pytorch_utils import Conv1D

    if not isinstance(module, (nn.Linear, Conv1D)):
        raise FoldUnsupportedError(
            f"folding needs an nn.Linear/Conv1D down projection, got {type(module).__name__} "
            "(LoRA-wrapped or custom layer): use scale_via='hook'"
        )
    weight = module.weight
    if weight.device.type == "meta" or not weight.is_floating_point():
        raise FoldUnsupportedError(
            f"folding needs materialised floating-point weights, got {weight.dtype} on {weight.device} "
            "(offloaded or quantised): use scale_via='hook'"
        )
    return weight


class _FoldColumns:
    """The columns of one down projection's weight to scale in place, with index/scale tensors per device."""

    def __init__(self, module: nn.Module, transposed: bool, indices: list[int], alphas: list[float]):
        self.module = module
        self.dim = 0 if transposed else 1  # the d_ff axis of the weight
        self.indices, self.alphas = indices, alphas
        self._cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        got = self._cache.get(device)
        if got is None:
            scale = torch.tensor(self.alphas, device=device, dtype=torch.float32)
            scale = scale.view(1, -1) if self.dim == 1 else scale.view(-1, 1)
            got = self._cache[device] = (torch.tensor(self.indices, device=device), scale)
        return got


@contextlib.contextmanager
def _fold(columns: list[_FoldColumns]) -> Iterator[None]:
    saved: list[tuple[torch.Tensor, int, torch.Tensor, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for c in columns:
                weight = c.module.weight
                idx, scale = c.tensors(weight.device)
                cols = weight.index_select(c.dim, idx)
                saved.append((weight, c.dim, idx, cols))
                weight.index_copy_(c.dim, idx, (cols.float() * scale).to(weight.dtype))
        yield
    finally:
        with torch.no_grad():
            for weight, dim, idx, cols in reversed(saved):
                weight.index_copy_(dim, idx, cols)


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
