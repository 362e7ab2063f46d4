"""Neuron masks: which FFN neurons to scale, for which model, and how they were found.

A mask is stored as ``*.hneurons.json``: plain JSON (never pickle), validated field by
field on load, written atomically, and bound to the shape of the model it was made for.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hneuron_eval import __version__
from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.core.provenance import utc_now
from hneuron_eval.core.run_kind import RunKind
from hneuron_eval.errors import HNeuronError

FORMAT = "hneurons"
FORMAT_VERSION = 1
SUFFIX = ".hneurons.json"

_TOP_KEYS = {"format", "format_version", "kind", "model", "default_alpha", "neurons", "provenance"}
#: what a mask file may be: the H-neurons of an identification or a random control
MASK_KINDS = (RunKind.HNEURONS, RunKind.CONTROL)
_MODEL_KEYS = {"name", "architecture", "model_type", "num_layers", "d_ff"}
_NEURON_KEYS = {"layer", "index", "weight", "alpha"}


def control_mask_name(seed: int, stem: str = "") -> str:
    """The file name of the random control drawn with ``seed`` (``[<stem>.]random-seed<seed>.hneurons.json``)."""
    return f"{stem}.random-seed{seed}{SUFFIX}" if stem else f"random-seed{seed}{SUFFIX}"


class MaskError(HNeuronError, ValueError):
    """A mask file or mask object is invalid; the message names the file and the field."""


class MaskShapeError(MaskError):
    """A mask was made for a model of another shape than the one it is applied to."""


@dataclass(frozen=True)
class Neuron:
    """One FFN neuron: input feature ``index`` of layer ``layer``'s down projection."""

    layer: int
    index: int
    weight: float | None = None  # probe weight that selected it, if any
    alpha: float | None = None  # per-neuron scale; None -> the scaling's alpha


@dataclass(frozen=True)
class ModelSpec:
    """The model a mask belongs to; ``num_layers`` and ``d_ff`` must match to apply it."""

    num_layers: int
    d_ff: int
    name: str = ""
    architecture: str = ""
    model_type: str = ""

    def shape(self) -> tuple[int, int]:
        return (self.num_layers, self.d_ff)

    def describe_shape(self) -> str:
        return f"{self.num_layers} layers x d_ff {self.d_ff}"


@dataclass(frozen=True)
class NeuronMask:
    """An immutable, validated set of neurons plus the model it targets and its provenance."""

    model: ModelSpec
    neurons: tuple[Neuron, ...]  # kept sorted by (layer, index)
    default_alpha: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)
    kind: RunKind = RunKind.HNEURONS  # a random control says so itself, not through its provenance text
    source: str = field(default="<memory>", compare=False)  # file it was loaded from, for messages

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in MASK_KINDS:  # a str enum: "control" is CONTROL
            raise MaskError(f"{self.source}: field 'kind': expected 'hneurons' or 'control', got {self.kind!r}")
        object.__setattr__(self, "kind", RunKind(self.kind))
        _validate(self)  # before sorting, so that errors name positions as they are in the file
        object.__setattr__(self, "neurons", tuple(sorted(self.neurons, key=lambda n: (n.layer, n.index))))

    # ---- construction -------------------------------------------------
    @classmethod
    def for_model(
        cls,
        model: Any,
        neurons: list[Neuron] | list[tuple[int, int]] | list[tuple[int, int, float]],
        *,
        name: str | None = None,
        default_alpha: float = 0.0,
        provenance: dict[str, Any] | None = None,
    ) -> NeuronMask:
        """Build a mask for a loaded transformers model (shape read from the model itself)."""
        from hneuron_eval.core.sites import resolve_ffn, unwrap

        layout = resolve_ffn(model)
        spec = ModelSpec(
            num_layers=layout.num_layers,
            d_ff=layout.d_ff,
            name=name or str(getattr(getattr(unwrap(model), "config", None), "name_or_path", "") or ""),
            architecture=layout.architecture,
            model_type=layout.model_type,
        )
        return cls(spec, tuple(_as_neuron(n) for n in neurons), default_alpha, dict(provenance or {}))

    def random_control(self, seed: int, *, exclude_self: bool = True) -> NeuronMask:
        """Same number of neurons in every layer, drawn uniformly at random with ``seed``."""
        rng = np.random.default_rng(seed)
        per_layer = Counter(n.layer for n in self.neurons)
        picked: list[Neuron] = []
        for layer in sorted(per_layer):
            taken = {n.index for n in self.neurons if n.layer == layer} if exclude_self else set()
            pool = np.setdiff1d(np.arange(self.model.d_ff), np.fromiter(taken, dtype=np.int64, count=len(taken)))
            if len(pool) < per_layer[layer]:
                raise MaskError(f"layer {layer}: cannot draw {per_layer[layer]} random neurons from {len(pool)}")
            chosen = np.sort(rng.choice(pool, size=per_layer[layer], replace=False))
            picked.extend(Neuron(layer, int(i)) for i in chosen)
        provenance = {
            "method": "random-control",
            "seed": seed,
            "exclude_source_neurons": exclude_self,
            "source_mask_sha256": self.sha256(),
            "source_provenance": self.provenance,
            "created": utc_now(),
            "tool": f"hneuron-eval {__version__}",
        }
        return NeuronMask(self.model, tuple(picked), self.default_alpha, provenance, RunKind.CONTROL)

    # ---- queries ------------------------------------------------------
    def __len__(self) -> int:
        return len(self.neurons)

    def by_layer(self) -> dict[int, list[Neuron]]:
        out: dict[int, list[Neuron]] = {}
        for n in self.neurons:
            out.setdefault(n.layer, []).append(n)
        return out

    def share(self) -> float:
        """Fraction of all FFN neurons that the mask covers."""
        return len(self.neurons) / (self.model.num_layers * self.model.d_ff)

    def sha256(self) -> str:
        """Hash of what changes the model's behaviour (shape, neurons, alphas), not provenance."""
        payload = {
            "shape": [self.model.num_layers, self.model.d_ff],
            "default_alpha": self.default_alpha,
            "neurons": [[n.layer, n.index, n.alpha] for n in self.neurons],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def check_compatible(self, num_layers: int, d_ff: int, model_name: str = "") -> None:
        """Refuse a model whose FFN shape differs from the one the mask was made for."""
        if (num_layers, d_ff) != self.model.shape():
            made_for = self.model.name or self.model.architecture or "?"
            raise MaskShapeError(
                f"{self.source}: mask was made for {made_for!r} ({self.model.describe_shape()}) "
                f"but the model {model_name!r} has {num_layers} layers x d_ff {d_ff}"
            )

    def describe(self) -> str:
        """A human-readable summary (used by ``hneuron-eval mask info``)."""
        m = self.model
        lines = [
            f"mask:          {self.source}",
            f"sha256:        {self.sha256()}",
            f"kind:          {self.kind.value}",
            f"model:         {m.name or '?'} ({m.architecture or '?'}, model_type={m.model_type or '?'})",
            f"shape:         {m.describe_shape()} = {m.num_layers * m.d_ff:,} FFN neurons",
            f"neurons:       {len(self)} ({1000 * self.share():.3f} per mille of FFN neurons)",
            f"default alpha: {self.default_alpha:g}",
        ]
        per_alpha = [n.alpha for n in self.neurons if n.alpha is not None]
        if per_alpha:
            lines.append(f"per-neuron alpha: {len(per_alpha)} neurons, range {min(per_alpha):g}..{max(per_alpha):g}")
        weights = [n.weight for n in self.neurons if n.weight is not None]
        if weights:
            lines.append(
                f"probe weights: min {min(weights):.4g}, median {float(np.median(weights)):.4g}, max {max(weights):.4g}"
            )
        lines.append(
            "per layer:     " + ", ".join(f"L{layer}:{len(v)}" for layer, v in self.by_layer().items())
            if self.neurons
            else "per layer:     (empty)"
        )
        if self.provenance:
            lines.append("provenance:")
            lines.extend(f"  {k}: {json.dumps(v) if not isinstance(v, str) else v}" for k, v in self.provenance.items())
        return "\n".join(lines)

    # ---- (de)serialisation ------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        neurons = []
        for n in self.neurons:
            entry: dict[str, Any] = {"layer": n.layer, "index": n.index}
            if n.weight is not None:
                entry["weight"] = n.weight
            if n.alpha is not None:
                entry["alpha"] = n.alpha
            neurons.append(entry)
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind.value,
            "model": {
                "name": self.model.name,
                "architecture": self.model.architecture,
                "model_type": self.model.model_type,
                "num_layers": self.model.num_layers,
                "d_ff": self.model.d_ff,
            },
            "default_alpha": self.default_alpha,
            "neurons": neurons,
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically; the name must end in ``.hneurons.json``."""
        path = Path(path)
        if not path.name.endswith(SUFFIX):
            raise MaskError(f"{path}: mask file names must end in {SUFFIX!r}")
        write_json_atomic(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> NeuronMask:
        """Parse and validate a mask mapping; errors name ``source`` and the field."""
        err = _Errors(source)
        if not isinstance(data, dict):
            raise err("(top level)", "a JSON object", data)
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise MaskError(f"{source}: unknown field(s) {sorted(unknown)}; expected only {sorted(_TOP_KEYS)}")
        if data.get("format") != FORMAT:
            raise err("format", repr(FORMAT), data.get("format"))
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise MaskError(
                f"{source}: field 'format_version': unsupported version {version!r}; "
                f"this hneuron-eval ({__version__}) reads version {FORMAT_VERSION}"
            )
        model = data.get("model")
        if not isinstance(model, dict):
            raise err("model", "an object", model)
        unknown = set(model) - _MODEL_KEYS
        if unknown:
            raise MaskError(f"{source}: field 'model': unknown key(s) {sorted(unknown)}")
        spec = ModelSpec(
            num_layers=_positive_int(err, "model.num_layers", model.get("num_layers")),
            d_ff=_positive_int(err, "model.d_ff", model.get("d_ff")),
            name=_string(err, "model.name", model.get("name", "")),
            architecture=_string(err, "model.architecture", model.get("architecture", "")),
            model_type=_string(err, "model.model_type", model.get("model_type", "")),
        )
        raw_neurons = data.get("neurons")
        if not isinstance(raw_neurons, list):
            raise err("neurons", "a list", raw_neurons)
        neurons = []
        for i, entry in enumerate(raw_neurons):
            where = f"neurons[{i}]"
            if not isinstance(entry, dict):
                raise err(where, "an object with 'layer' and 'index'", entry)
            unknown = set(entry) - _NEURON_KEYS
            if unknown:
                raise MaskError(
                    f"{source}: field '{where}': unknown key(s) {sorted(unknown)}; allowed {sorted(_NEURON_KEYS)}"
                )
            neurons.append(
                Neuron(
                    layer=_int(err, f"{where}.layer", entry.get("layer")),
                    index=_int(err, f"{where}.index", entry.get("index")),
                    weight=_finite(err, f"{where}.weight", entry.get("weight"), optional=True),
                    alpha=_finite(err, f"{where}.alpha", entry.get("alpha"), optional=True),
                )
            )
        provenance = data.get("provenance", {})
        if not isinstance(provenance, dict):
            raise err("provenance", "an object", provenance)
        default_alpha = _finite(err, "default_alpha", data.get("default_alpha", 0.0))
        return cls(spec, tuple(neurons), default_alpha, provenance, _kind(data, provenance), source=source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NeuronMask:
        """Read and validate a ``*.hneurons.json`` file (plain JSON; never executes anything)."""
        path = Path(path)
        if path.is_dir():
            raise MaskError(f"{path}: is a folder; expected a *.hneurons.json mask file")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MaskError(f"{path}: mask file not found") from None
        except UnicodeDecodeError as exc:
            raise MaskError(f"{path}: not a UTF-8 text file ({exc})") from None
        try:
            # NaN/Infinity literals parse to floats so that validation can name their field
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            looks_json = text.lstrip().startswith("{")
            hint = (" (not a JSON mask file)" if not looks_json
                    else "" if text.rstrip().endswith("}") else " (the file looks truncated)")
            raise MaskError(
                f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}"
            ) from None
        mask = cls.from_dict(data, source=str(path))
        if not mask.neurons:  # a mask that scales nothing is a mistake to point out, not a no-op to run
            raise MaskError(f"{path}: field 'neurons': expected at least one neuron, got []")
        return mask


def _kind(data: dict[str, Any], provenance: dict[str, Any]) -> Any:
    """The file's kind (NeuronMask checks it); a file from before kinds is a control when its method was random."""
    if "kind" in data:
        return data["kind"]
    return RunKind.CONTROL if str(provenance.get("method", "")).startswith("random") else RunKind.HNEURONS


class _Errors:
    def __init__(self, source: str):
        self.source = source

    def __call__(self, fld: str, expected: str, got: Any) -> MaskError:
        shown = repr(got)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return MaskError(f"{self.source}: field '{fld}': expected {expected}, got {shown}")


def _int(err: _Errors, fld: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise err(fld, "an integer", value)
    return value


def _positive_int(err: _Errors, fld: str, value: Any) -> int:
    value = _int(err, fld, value)
    if value <= 0:
        raise err(fld, "a positive integer", value)
    return value


def _string(err: _Errors, fld: str, value: Any) -> str:
    if not isinstance(value, str):
        raise err(fld, "a string", value)
    return value


def _finite(err: _Errors, fld: str, value: Any, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise err(fld, "a finite number" + (" or null" if optional else ""), value)
    return float(value)


def _as_neuron(n: Any) -> Neuron:
    if isinstance(n, Neuron):
        return n
    layer, index, *rest = n
    return Neuron(int(layer), int(index), float(rest[0]) if rest else None)


def _validate(mask: NeuronMask) -> None:
    src, spec = mask.source, mask.model
    if spec.num_layers <= 0 or spec.d_ff <= 0:
        raise MaskError(f"{src}: model shape must be positive, got {spec.describe_shape()}")
    if not math.isfinite(mask.default_alpha) or mask.default_alpha < 0:
        raise MaskError(f"{src}: field 'default_alpha': expected a finite number >= 0, got {mask.default_alpha!r}")
    seen: dict[tuple[int, int], int] = {}
    for i, n in enumerate(mask.neurons):
        where = f"{src}: field 'neurons[{i}]'"
        if not 0 <= n.layer < spec.num_layers:
            raise MaskError(f"{where}.layer: layer {n.layer} out of range [0, {spec.num_layers})")
        if not 0 <= n.index < spec.d_ff:
            raise MaskError(f"{where}.index: index {n.index} out of range [0, {spec.d_ff}) for layer {n.layer}")
        for name in ("weight", "alpha"):
            v = getattr(n, name)
            if v is not None and not math.isfinite(v):
                raise MaskError(f"{where}.{name}: expected a finite number, got {v!r}")
        if n.alpha is not None and n.alpha < 0:
            raise MaskError(f"{where}.alpha: expected a number >= 0, got {n.alpha!r}")
        key = (n.layer, n.index)
        if key in seen:
            raise MaskError(
                f"{where}: duplicate neuron (layer {n.layer}, index {n.index}), first at neurons[{seen[key]}]"
            )
        seen[key] = i

