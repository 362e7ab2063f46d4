"""Where the neurons live: one table of FFN down-projection sites per architecture, open to user entries.

An architecture outside the table is added with ``register_site`` (Python) or the ``hneuron-hf`` model
argument ``ffn_site=LAYERS:DOWN_PROJ[:transposed]``; either is checked on load like the table's own
entries: every layer must have the module, and it must map d_ff to the model's hidden size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
    """The model's architecture has no entry in ``FFN_SITES``, or its entry does not fit the loaded model."""


def register_site(model_type: str, site: FFNSite, *, replace: bool = False) -> None:
    """Add the FFN site of an architecture outside the table (``config.model_type``); checked when a model loads."""
    if not isinstance(site, FFNSite):
        raise TypeError(f"site must be an FFNSite, got {type(site).__name__}")
    if model_type in FFN_SITES and FFN_SITES[model_type] != site and not replace:
        raise UnsupportedArchitectureError(
            f"model_type {model_type!r} already has the site {FFN_SITES[model_type]}; pass replace=True to change it")
    FFN_SITES[model_type] = site


def parse_site(text: str) -> FFNSite:
    """``LAYERS:DOWN_PROJ[:transposed]``, e.g. ``model.layers:mlp.down_proj`` (the ``ffn_site=`` model argument)."""
    parts = text.split(":")
    flags = parts[2:]
    if len(parts) < 2 or not all(parts[:2]) or flags not in ([], ["transposed"]):
        raise UnsupportedArchitectureError(
            f"ffn_site={text!r}: expected LAYERS:DOWN_PROJ[:transposed], e.g. model.layers:mlp.down_proj (the "
            "attribute path from the model to its decoder-layer list, then inside one layer to the FFN down "
            "projection)")
    return FFNSite(layers=(parts[0],), down_proj=parts[1], transposed=bool(flags))


def use_site(name_or_path: str, text: str, trust_remote_code: bool = False) -> FFNLayout:
    """Register the ``ffn_site`` text for the model at ``name_or_path``, checked on its config (weights unloaded)."""
    from transformers import AutoConfig

    site = parse_site(text)
    model_type = str(AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code).model_type)
    return _checked(model_type, site, lambda: resolve_ffn_pretrained(name_or_path, trust_remote_code))


def apply_site(model: nn.Module, text: str) -> FFNLayout:
    """Register the ``ffn_site`` text for a loaded model's model_type, checked on the model itself."""
    model_type = str(getattr(getattr(unwrap(model), "config", None), "model_type", None))
    return _checked(model_type, parse_site(text), lambda: resolve_ffn(model))


def _checked(model_type: str, site: FFNSite, resolve: Callable[[], FFNLayout]) -> FFNLayout:
    """Register ``site`` for ``model_type`` if ``resolve`` accepts it; a refused site leaves the table as it was."""
    previous = FFN_SITES.get(model_type)
    FFN_SITES[model_type] = site
    try:
        return resolve()
    except BaseException:
        if previous is None:
            del FFN_SITES[model_type]
        else:
            FFN_SITES[model_type] = previous
        raise


def base_layer(module: nn.Module) -> nn.Module:
    """The original layer under a PEFT (LoRA) wrapper, or the module itself."""
    return getattr(module, "base_layer", module)


@dataclass
class FFNLayout:
    """The resolved down projections of one loaded model."""

    model_type: str
    architecture: str
    down_projs: list[nn.Module]
    d_ff: int
    transposed: bool
    layers: list[nn.Module] = field(default_factory=list)  # the decoder layers: their outputs are the residual stream
    d_model: int = 0  # the hidden size the down projections map to

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


def _widths(module: nn.Module, transposed: bool, where: str) -> tuple[int, int]:
    """(input width d_ff, output width) of a down projection, also for LoRA-wrapped or quantised layers."""
    base = base_layer(module)
    if isinstance(getattr(base, "in_features", None), int) and isinstance(getattr(base, "out_features", None), int):
        return base.in_features, base.out_features
    if isinstance(getattr(base, "nx", None), int) and isinstance(getattr(base, "nf", None), int):  # GPT-2 Conv1D
        return base.nx, base.nf
    weight = getattr(base, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() == 2:
        rows, cols = weight.shape
        return (rows, cols) if transposed else (cols, rows)
    raise UnsupportedArchitectureError(f"{where} is a {type(module).__name__}, not a linear down projection "
                                       "(no in/out features and no 2-d weight)")


def _hidden_size(config: object) -> int | None:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for attr in ("hidden_size", "n_embd", "d_model"):
        if isinstance(value := getattr(text, attr, None), int):
            return value
    return None


def resolve_ffn(model: nn.Module) -> FFNLayout:
    """Find every layer's FFN down projection in ``model`` via ``FFN_SITES``."""
    inner = unwrap(model)
    config = getattr(inner, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in FFN_SITES:
        raise UnsupportedArchitectureError(
            f"architecture {model_type!r} ({type(inner).__name__}) is not supported; "
            f"supported model_type values: {', '.join(sorted(FFN_SITES))}; for another architecture name its "
            "down projections with the model argument ffn_site=LAYERS:DOWN_PROJ (e.g. model.layers:mlp.down_proj) "
            "or hneuron_eval.register_site()"
        )
    site = FFN_SITES[model_type]
    layers = next((lst for p in site.layers if isinstance(lst := _get_path(inner, p), nn.ModuleList)), None)
    if layers is None:
        raise UnsupportedArchitectureError(
            f"{type(inner).__name__} ({model_type}): none of the layer paths {site.layers} exists"
        )
    layers_path = next(p for p in site.layers if _get_path(inner, p) is layers)
    hidden = _hidden_size(config)
    down, widths = [], set()
    for i, layer in enumerate(layers):
        where = f"{layers_path}.{i}.{site.down_proj}"
        module = _get_path(layer, site.down_proj)
        if not isinstance(module, nn.Module):
            raise UnsupportedArchitectureError(f"{model_type}: module {where} does not exist")
        d_ff, out = _widths(module, site.transposed, where)
        if hidden is not None and out != hidden:
            shape = (d_ff, out) if site.transposed else (out, d_ff)
            expected = ("d_ff", hidden) if site.transposed else (hidden, "d_ff")
            raise UnsupportedArchitectureError(
                f"{model_type}: {where} has weight shape {shape}; a down projection maps d_ff to the hidden size "
                f"{hidden}, shape {expected}" + ("" if site.transposed else " (or give :transposed for a "
                                                 "[d_ff, hidden] weight)"))
        down.append(module)
        widths.add(d_ff)
    if len(widths) != 1:
        raise UnsupportedArchitectureError(f"{model_type}: layers have different FFN widths {sorted(widths)}")
    archs = getattr(config, "architectures", None) or [type(inner).__name__]
    return FFNLayout(
        model_type=model_type,
        architecture=archs[0],
        down_projs=down,
        d_ff=widths.pop(),
        transposed=site.transposed,
        layers=list(layers),
        d_model=out,
    )


def resolve_ffn_pretrained(name_or_path: str, trust_remote_code: bool = False) -> FFNLayout:
    """Resolve the FFN layout from a model's config alone (weights stay unloaded, on ``meta``)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    return resolve_ffn(model)
