"""``hneuron-eval export``: write a model with a mask folded into its weights as a plain Hugging Face checkpoint.

Any engine that reads Hugging Face checkpoints (lm-eval ``hf``, vLLM, ...) then runs the
intervened model at full speed, with no hooks and no hneuron-eval installed. The scaled
down-projection columns are exactly those that ``hneuron-hf`` folds in for the same mask
and alpha, so both give bit-identical results in the same dtype.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from hneuron_eval import __version__
from hneuron_eval.core.fileio import apply_umask
from hneuron_eval.core.provenance import utc_now

logger = logging.getLogger(__name__)

#: Written next to the weights; its presence marks a finished export.
RECORD = "hneuron_export.json"
#: Key in the checkpoint's config.json, so that the intervention travels with the weights alone.
CONFIG_KEY = "hneuron_export"
DTYPES = ("float32", "bfloat16", "float16")


def export_folded(
    model: str,
    mask: str | os.PathLike,
    alpha: float | None,
    out: str | os.PathLike,
    *,
    force: bool = False,
    dtype: str = "float32",
    ffn_site: str | None = None,
    command: str = "",
) -> Path:
    """Save ``model`` with ``mask`` scaled by ``alpha`` folded into its weights to ``out``; return ``out``.

    ``model`` is a built-in name, a local directory or a hub id; ``alpha=None`` uses the
    mask's own alphas. ``out`` is written completely in a sibling folder first and then
    renamed into place, so it never holds a half-written checkpoint; an existing,
    non-empty ``out`` is replaced only with ``force``.
    """
    from hneuron_eval.core.intervention import NeuronScaling
    from hneuron_eval.core.masks import NeuronMask
    from hneuron_eval.core.sites import resolve_ffn_pretrained, use_site
    from hneuron_eval.harness.builtin_models import builtin_info, resolve_pretrained

    if dtype not in DTYPES:
        raise ValueError(f"export: dtype must be one of {DTYPES}, got {dtype!r}")
    target = Path(os.path.abspath(out))
    _check_target(target, force)
    source = resolve_pretrained(model)
    _check_not_input(target, [source, mask])
    scaling = NeuronScaling(NeuronMask.load(mask), alpha, scale_via="fold")
    # config only: a wrong site or a wrong-shape mask is refused before loading weights
    layout = use_site(source, ffn_site) if ffn_site else resolve_ffn_pretrained(source)
    scaling.mask.check_compatible(layout.num_layers, layout.d_ff, model)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    lm = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).eval()
    bound = scaling.bind(lm)
    scaled = sum(len(indices) for indices, _ in bound.plan.values())
    record: dict[str, Any] = {
        "format": "hneuron-export",
        "format_version": 1,
        "source_model": model,
        "source_builtin": builtin_info(source),
        "mask": str(mask),
        "mask_sha256": scaling.mask.sha256(),
        "mask_model": scaling.mask.model.name,
        "num_neurons": len(scaling.mask),
        "scaled_neurons": scaled,
        "alpha": float(scaling.alpha) if scaling.alpha is not None else "per-neuron/default",
        "default_alpha": scaling.mask.default_alpha,
        "dtype": dtype,
        "tool": f"hneuron-eval {__version__}",
        "command": command,
        "created": utc_now(),
    }
    if not scaled:
        record["note"] = "every neuron's alpha is 1: the weights are an unmodified copy of the source model"
        logger.warning("export: %s", record["note"])

    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists():  # left by an earlier process with this pid that was killed
            shutil.rmtree(partial)
        partial.mkdir()
        setattr(lm.config, CONFIG_KEY, {"mask_sha256": record["mask_sha256"], "alpha": record["alpha"]})
        try:
            with bound.apply():
                lm.save_pretrained(partial, safe_serialization=True)
        finally:
            delattr(lm.config, CONFIG_KEY)
        tokenizer.save_pretrained(partial)
        (partial / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        apply_umask(partial)  # transformers writes model.safetensors via a private 0600 temp file
        _move_into_place(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _check_target(target: Path, force: bool) -> None:
    """Refuse an ``out`` that is a file, or a non-empty folder without ``force``."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ValueError(f"export: {target} exists and is not a folder")
    if any(target.iterdir()) and not force:
        raise ValueError(f"export: {target} exists and is not empty; pass --force to replace it")


def _check_not_input(target: Path, inputs: list[str | os.PathLike]) -> None:
    """Refuse an ``out`` that is or contains the model or the mask: ``--force`` would delete them."""
    for path in inputs:
        path = Path(os.path.abspath(path))
        if path.exists() and (path == target or target in path.parents):
            raise ValueError(f"export: --out {target} holds the input {path}; choose another folder")


def _move_into_place(partial: Path, target: Path) -> None:
    """Rename the finished ``partial`` to ``target``; an old ``target`` is removed only after that."""
    if not target.exists():
        os.replace(partial, target)
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    os.replace(target, old)
    try:
        os.replace(partial, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old)
