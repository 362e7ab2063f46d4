"""Where the neurons live: one table of FFN down-projection sites per architecture."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hneuron_eval.errors import HNeuronError


@dataclass(frozen=True)
class FFNSite:
    """How to reach the FFN down projection of one architecture.

    The neurons of layer ``l`` are the *input* features of its down projection: the
    vector z = act(W_gate x) * (W_up x) (or act(W_in x)) that the projection maps back
    to the residual stream.
    """

    layers: tuple[str, ...]  # candidate attribute paths to the decoder-layer list, first match wins
    down_proj: str  # attribute path inside one decoder layer
    transposed: bool = False  # weight stored [d_ff, d_model] (GPT-2 Conv1D) instead of [d_model, d_ff]


_LLAMA_LIKE = FFNSite(layers=("model.layers",), down_proj="mlp.down_proj")

#: model_type (``config.model_type``) -> site. The single place that names intervention sites.
FFN_SITES: dict[str, FFNSite] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "gemma3_text": _LLAMA_LIKE,
    "gemma3": FFNSite(
        layers=("model.language_model.layers", "language_model.model.layers", "model.layers"), down_proj="mlp.down_proj"
    ),
    "phi3": _LLAMA_LIKE,
    "gpt2": FFNSite(layers=("transformer.h",), down_proj="mlp.c_proj", transposed=True),
    "gpt_neox": FFNSite(layers=("gpt_neox.layers",), down_proj="mlp.dense_4h_to_h"),
    "falcon": FFNSite(layers=("transformer.h",), down_proj="mlp.dense_4h_to_h"),
    "opt": FFNSite(layers=("model.decoder.layers",), down_proj="fc2"),
    "phi": FFNSite(layers=("model.layers",), down_proj="mlp.fc2"),
    "gptj": FFNSite(layers=("transformer.h",), down_proj="mlp.fc_out"),
}


class UnsupportedArchitectureError(HNeuronError, ValueError):
    """The model's architecture has no entry in ``FFN_SITES``."""


@dataclass
class FFNLayout:
    """The resolved down projections of one loaded model."""

    model_type: str
    architecture: str
    down_projs: list[nn.Module]
    d_ff: int
    transposed: bool

    @property
    def num_layers(self) -> int:
        return len(self.down_projs)

    @property
    def num_neurons(self) -> int:
        return self.num_layers * self.d_ff


def unwrap(model: nn.Module) -> nn.Module:
    """Return the transformers model under PEFT / DDP / accelerate wrappers."""
    seen = set()
    while id(model) not in seen:
        seen.add(id(model))
        if hasattr(model, "get_base_model"):  # peft.PeftModel
            model = model.get_base_model()
        elif isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
    return model


def _get_path(obj: object, path: str) -> object | None:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _input_features(module: nn.Module, transposed: bool) -> int:
    """The down projection's input width (d_ff), also for LoRA-wrapped or quantised layers."""
    base = getattr(module, "base_layer", module)  # peft LoRA wraps the original layer
    for attr in ("in_features", "nx"):
        if isinstance(getattr(base, attr, None), int):
            return getattr(base, attr)
    weight = getattr(base, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() == 2:
        return weight.shape[0] if transposed else weight.shape[1]
    raise TypeError(f"cannot tell the input width of down projection {type(module).__name__}")


def resolve_ffn(model: nn.Module) -> FFNLayout:
    """Find every layer's FFN down projection in ``model`` via ``FFN_SITES``."""
    inner = unwrap(model)
    config = getattr(inner, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in FFN_SITES:
        raise UnsupportedArchitectureError(
            f"architecture {model_type!r} ({type(inner).__name__}) is not supported; "
            f"supported model_type values: {', '.join(sorted(FFN_SITES))}"
        )
    site = FFN_SITES[model_type]
    layers = next((lst for p in site.layers if isinstance(lst := _get_path(inner, p), nn.ModuleList)), None)
    if layers is None:
        raise UnsupportedArchitectureError(
            f"{type(inner).__name__} ({model_type}): none of the layer paths {site.layers} exists"
        )
    down = []
    for i, layer in enumerate(layers):
        module = _get_path(layer, site.down_proj)
        if not isinstance(module, nn.Module):
            raise UnsupportedArchitectureError(f"{model_type}: layer {i} has no {site.down_proj}")
        down.append(module)
    widths = {_input_features(m, site.transposed) for m in down}
    if len(widths) != 1:
        raise UnsupportedArchitectureError(f"{model_type}: layers have different FFN widths {sorted(widths)}")
    archs = getattr(config, "architectures", None) or [type(inner).__name__]
    return FFNLayout(
        model_type=model_type,
        architecture=archs[0],
        down_projs=down,
        d_ff=widths.pop(),
        transposed=site.transposed,
    )


def resolve_ffn_pretrained(name_or_path: str, trust_remote_code: bool = False) -> FFNLayout:
    """Resolve the FFN layout from a model's config alone (weights stay unloaded, on ``meta``)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    return resolve_ffn(model)
