"""Frozen language-model states of a response: what the learned judge reads where n-grams miss the sense.

A response that never commits ("a topic of debate among philosophers") or answers in other words
shares few n-grams with the labelled ones; a small frozen model's hidden state carries that sense. The
state of a response is the mean, over its own tokens, of one layer's output of the bundled SmolLM2 fed
``Question: ...\\nAnswer: <response>``, one response per forward pass (so a response's state never
depends on what it was batched with). The forward pass stops at the layer read. The spec names the
dtype the model runs in (bfloat16 since round 9: the judge costs about 0.6 of float32's on a CPU with
bfloat16 matrix units); the mean is taken in float32.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hneuron_eval.core.hooks import forward_hooks
from hneuron_eval.core.residual import layer_output
from hneuron_eval.errors import HNeuronError


class StateSpecError(HNeuronError, ValueError):
    """A judge file's state spec is malformed or does not fit the model it names."""


@dataclass(frozen=True)
class StateSpec:
    """Which model, in which dtype, which layer (1 = the first decoder layer's output), how many response tokens."""

    model: str = "smollm2-135m-instruct"
    layer: int = 15
    max_tokens: int = 96
    hidden: int = 576
    dtype: str = "bfloat16"

    def __post_init__(self) -> None:
        for name, kind in _FIELDS.items():
            value = getattr(self, name)
            if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise StateSpecError(f"'states.{name}' must be a positive int, got {value!r}")
            if kind is str and (not isinstance(value, str) or not value):
                raise StateSpecError(f"'states.{name}' must be a model name, got {value!r}")
        if self.dtype not in DTYPES:
            raise StateSpecError(f"'states.dtype' must be one of {list(DTYPES)}, got {self.dtype!r}")

    def names(self) -> list[str]:
        """The feature names of the state's dimensions (one block of the learned judge's named features)."""
        return [f"{PREFIX}{i}" for i in range(self.hidden)]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> StateSpec:
        """The spec of a judge file (one without 'dtype' predates it and read float32); ``where`` names the file."""
        if isinstance(data, dict) and "dtype" not in data:
            data = {**data, "dtype": "float32"}
        if not isinstance(data, dict) or set(data) != {*_FIELDS, "dtype"}:
            raise StateSpecError(f"{where}: 'states' must have exactly the fields {sorted({*_FIELDS, 'dtype'})}, "
                                 f"got {data!r}")
        try:
            return cls(**data)
        except StateSpecError as exc:
            raise StateSpecError(f"{where}: {exc}") from None


def ensure_available(spec: StateSpec) -> None:
    """Fail when a judge is built, not after a run's generation, if its state model cannot be had."""
    from hneuron_eval.harness.builtin_models import resolve_pretrained

    try:
        resolve_pretrained(spec.model)  # a built-in model is converted here, once
    except (ImportError, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise StateSpecError(f"this learned judge reads {spec.model!r} states on some tasks, and that model cannot "
                             f"be loaded: {reason} (or judge with the rules: --metadata '{{\"hn_judge\": \"rule\"}}')"
                             ) from None


_FIELDS = {"model": str, "layer": int, "max_tokens": int, "hidden": int}
DTYPES = ("bfloat16", "float32")  # what a state model may run in
PREFIX = "lm:"  # the named features of a state are lm:0 ... lm:<hidden - 1>
CACHE_SIZE = 4096  # responses whose states are kept (a sweep judges the same text under many configurations)


class _Stop(Exception):
    """Raised by the hook on the read layer: the rest of the forward pass is not needed."""


class StateReader:
    """Reads response states for one spec; the model loads on first use and texts already read are cached."""

    def __init__(self, spec: StateSpec):
        self.spec = spec
        self._model: Any = None
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def _load(self) -> None:
        from hneuron_eval.core.sites import resolve_ffn
        from hneuron_eval.harness.builtin_models import load_model

        model, tokenizer = load_model(self.spec.model, dtype=self.spec.dtype)
        layers = resolve_ffn(model).layers
        if model.config.hidden_size != self.spec.hidden or len(layers) < self.spec.layer:
            raise StateSpecError(f"states of {self.spec.model!r}: the spec asks for layer {self.spec.layer} of width "
                                 f"{self.spec.hidden}; the model has {len(layers)} layers of width "
                                 f"{model.config.hidden_size}")
        self._model, self._tokenizer, self._layer = model, tokenizer, layers[self.spec.layer - 1]

    def read(self, question: str, response: str) -> np.ndarray:
        """The state (float32 whatever the model's dtype, ``hidden`` wide) of one response to one question."""
        key = (question, response)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self._model is None:
            self._load()
        import torch

        tok = self._tokenizer
        head = tok(f"Question: {question}\nAnswer:", add_special_tokens=False)["input_ids"]
        tail = tok(" " + response.strip(), add_special_tokens=False)["input_ids"][:self.spec.max_tokens]
        tail = tail or [tok.eos_token_id]
        seen: list[torch.Tensor] = []

        def stop(module: Any, args: tuple, output: Any) -> None:  # the layers after the read one never run
            seen.append(layer_output(output))
            raise _Stop

        with torch.no_grad(), forward_hooks(post=[(self._layer, stop)]):
            try:
                self._model(input_ids=torch.tensor([head + tail]), use_cache=False)
            except _Stop:
                pass
        state = seen[0][0, len(head):].float().mean(0).numpy().astype(np.float32)
        self._cache[key] = state
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return state

    def read_many(self, pairs: Sequence[tuple[str, str]], progress: bool = False) -> np.ndarray:
        """(len(pairs), hidden) states, one forward pass each (with a progress bar when asked)."""
        from tqdm import tqdm

        rows = [self.read(q, r) for q, r in tqdm(pairs, desc="response states", disable=not progress)]
        return np.stack(rows) if rows else np.zeros((0, self.spec.hidden), dtype=np.float32)


_READERS: dict[StateSpec, StateReader] = {}


def reader_for(spec: StateSpec) -> StateReader:
    """One reader per spec and process: the model loads once however many judges read it."""
    if spec not in _READERS:
        _READERS[spec] = StateReader(spec)
    return _READERS[spec]


def clear_state_caches() -> None:
    """Forget every state read so far (a timing must not read them back)."""
    for reader in _READERS.values():
        reader._cache.clear()


def state_features(spec: StateSpec, question: str, response: str) -> dict[str, float]:
    """The state of one response as named features (``lm:<i>``)."""
    return dict(zip(spec.names(), map(float, reader_for(spec).read(question, response))))
