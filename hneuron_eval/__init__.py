"""hneuron-eval: find, watch and switch off hallucination-associated FFN neurons (H-Neurons).

Kept import-light on purpose: a ``.pth`` file imports this package in every Python
process of the environment, so heavy modules (torch, transformers, lm_eval) load only
when one of the names below is first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_LAZY = {
    "NeuronMask": "hneuron_eval.core.masks",
    "Neuron": "hneuron_eval.core.masks",
    "MaskError": "hneuron_eval.core.masks",
    "NeuronScaling": "hneuron_eval.core.intervention",
    "scale_neurons": "hneuron_eval.core.intervention",
    "RunKind": "hneuron_eval.core.run_kind",
    "resolve_ffn": "hneuron_eval.core.sites",
    "FFN_SITES": "hneuron_eval.core.sites",
    "FFNSite": "hneuron_eval.core.sites",
    "register_site": "hneuron_eval.core.sites",
    "HNeuronProbe": "hneuron_eval.core.probe",
    "HNeuronError": "hneuron_eval.errors",
    "load_model": "hneuron_eval.harness.builtin_models",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hneuron_eval' has no attribute {name!r}")
