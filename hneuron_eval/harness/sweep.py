"""Alpha sweeps: the baseline, the H-neuron mask at every alpha and random-neuron controls, one model load.

Each configuration is evaluated by lm-eval's own evaluator (``simple_evaluate`` with
``log_samples``) and saved as a standard lm-eval output folder, the same files
``lm_eval --model hneuron-hf --model_args ...,mask=...,alpha=... --log_samples --output_path``
writes, so that ``hneuron-eval leaderboard`` (or any lm-eval tooling) reads them like any run.
A configuration is written to a temporary folder and renamed into place when complete: a
killed sweep, started again with the same command, skips the finished ones.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hneuron_eval import __version__
from hneuron_eval.core.fileio import apply_umask, write_json_atomic
from hneuron_eval.core.masks import NeuronMask, control_mask_name
from hneuron_eval.core.provenance import utc_now
from hneuron_eval.core.run_kind import RunKind
from hneuron_eval.harness.precision import DtypeChoice, choose_dtype

logger = logging.getLogger(__name__)

MANIFEST = "sweep.json"
DONE = "hneuron_sweep.json"  # written last into a configuration's folder


@dataclass(frozen=True)
class SweepConfig:
    """One evaluated configuration: no intervention, the H-neuron mask, or a random control, at one alpha."""

    name: str  # folder name under the sweep's output
    kind: RunKind
    alpha: float | None  # None for the baseline
    seed: int | None = None  # random control's seed
    mask: str | None = None  # mask path as recorded in model_args


def parse_alphas(text: str) -> list[float]:
    """``"0,1,2,3"`` -> [0.0, 1.0, 2.0, 3.0]; empty items, non-numbers, NaN/inf and repeats are errors."""
    items = [item.strip() for item in str(text).split(",")]
    alphas: list[float] = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"--alphas: {item!r} is not a number (expected a comma-separated list, e.g. 0,1,2,3)") \
                from None
        if not math.isfinite(value):
            raise ValueError(f"--alphas: {item!r} is not a finite number")
        if value < 0:
            raise ValueError(f"--alphas: {item!r} is negative (0 ablates, 1 leaves the neurons as they are, >1 "
                             "amplifies)")
        if value in alphas:
            raise ValueError(f"--alphas: {item!r} is given twice")
        alphas.append(value)
    return alphas


def parse_samples(text: str) -> dict[str, list[int]]:
    """``--samples``: a JSON object of task -> document indices, given inline or as a file path."""
    source, raw = "--samples", text
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"--samples: {text!r} is neither a JSON object nor a file")
        source, raw = f"--samples {path}", path.read_text(encoding="utf-8")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{source}: not JSON ({exc})") from None
    return check_samples(value, source)


def check_samples(value: Any, source: str = "samples") -> dict[str, list[int]]:
    """Task -> distinct document indices >= 0; keys starting with ``_`` are notes (e.g. the producing command),
    dropped before lm-eval sees the mapping."""
    if not isinstance(value, dict):
        raise ValueError(f"{source}: expected an object of task -> list of document indices, got "
                         f"{type(value).__name__}")
    tasks = {k: v for k, v in value.items() if not str(k).startswith("_")}
    if not tasks:
        raise ValueError(f"{source}: expected a non-empty object of task -> list of document indices")
    for task, ids in tasks.items():
        if not isinstance(ids, list) or not ids or not all(type(i) is int and i >= 0 for i in ids):
            raise ValueError(f"{source}: task {task!r}: expected a non-empty list of document indices >= 0, "
                             f"got {json.dumps(ids)[:60]}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{source}: task {task!r}: an index is given twice")
    return tasks


def alpha_label(alpha: float) -> str:
    """``0.0`` -> ``"0"``, ``1.5`` -> ``"1.5"``: the alpha as it appears in folder names and tables."""
    return format(alpha, "g")


def plan_sweep(alphas: Sequence[float], controls: int, mask_path: str, control_dir: str) -> list[SweepConfig]:
    """The configurations of a sweep, in evaluation order (baseline first, then by alpha).

    alpha=1 changes no neuron (the scaling plan is empty), so it is the baseline and is not
    evaluated twice; random controls use seeds 0..controls-1, the same neuron sets at every alpha.
    """
    if controls < 0:
        raise ValueError(f"--controls must be >= 0, got {controls}")
    if not alphas:
        raise ValueError("--alphas: give at least one alpha")
    configs = [SweepConfig("baseline", RunKind.BASELINE, None)]
    for alpha in alphas:
        if alpha == 1.0:
            continue
        label = alpha_label(alpha)
        configs.append(SweepConfig(f"hneurons-alpha{label}", RunKind.HNEURONS, alpha, mask=mask_path))
        configs.extend(
            SweepConfig(f"random-seed{seed}-alpha{label}", RunKind.CONTROL, alpha, seed,
                        f"{control_dir}/{control_mask_name(seed)}")
            for seed in range(controls)
        )
    return configs


def model_args_string(pretrained: str, config: SweepConfig, extra: dict[str, Any]) -> str:
    """The ``--model_args`` of the equivalent ``lm_eval --model hneuron-hf`` command."""
    args = {"pretrained": pretrained, **extra}
    if config.mask is not None:
        args.update(mask=config.mask, alpha=alpha_label(config.alpha))  # type: ignore[arg-type]
    return ",".join(f"{k}={v}" for k, v in args.items())


def _task_manager(names: Sequence[str], include_path: str | None) -> Any:
    """The suite's own task index when it holds every name asked for (its groups hold only its tasks), else
    lm-eval's whole index with the suite's folder (about 5 s on 2 cores)."""
    from lm_eval.tasks import TaskManager

    from hneuron_eval._autoload import tasks_dir

    if include_path is None:
        ours = TaskManager(include_path=tasks_dir(), include_defaults=False)
        if all(ours.match_tasks([name]) for name in names):
            return ours
    return TaskManager(include_path=include_path)


def run_sweep(
    *,
    model: str,
    mask: str,
    alphas: Sequence[float],
    controls: int,
    tasks: Sequence[str],
    out: str | os.PathLike,
    limit: float | None = None,
    samples: dict[str, list[int]] | None = None,
    batch_size: int | str = 16,
    device: str = "cpu",
    dtype: str | None = None,
    scale_via: str = "auto",
    apply_chat_template: bool = False,
    include_path: str | None = None,
    seed: int = 0,
    ffn_site: str | None = None,
    command: str = "",
    decoding: str = "compact",
) -> list[Path]:
    """Evaluate every configuration not yet finished under ``out``; returns the configuration folders."""
    from hneuron_eval.core.sites import resolve_ffn_pretrained, use_site
    from hneuron_eval.harness.builtin_models import resolve_pretrained

    out = Path(out)
    choice = choose_dtype(dtype, device)  # the dtype policy unless dtype is given; recorded with its reason
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the sweep")
    if limit is not None and not limit > 0:
        raise ValueError(f"--limit: expected a positive number of documents (or a fraction below 1), got {limit:g}")
    if limit is not None and samples is not None:
        raise ValueError("--samples and --limit: give one of them (as lm_eval, which refuses both)")
    if samples is not None:
        samples = check_samples(samples)
    h_mask = NeuronMask.load(mask)
    source = resolve_pretrained(model)
    # config only: a wrong site or mask fails before loading
    layout = use_site(source, ffn_site) if ffn_site else resolve_ffn_pretrained(source)
    h_mask.check_compatible(layout.num_layers, layout.d_ff, model)
    configs = plan_sweep(alphas, controls, mask, (out / "masks").as_posix())
    task_manager = _task_manager([*tasks, *(samples or {})], include_path)
    unknown = [t for t in tasks if not task_manager.match_tasks([t])]
    if unknown:
        raise ValueError(f"--tasks: no lm-eval task or group called {', '.join(map(repr, unknown))}; the suite's "
                         "tasks are listed by `lm_eval ls tasks | grep -E '^\\|(hn_|hneuron)'`")
    stray = [t for t in (samples or {}) if not task_manager.match_tasks([t])]
    if stray:
        raise ValueError(f"--samples: no lm-eval task called {', '.join(map(repr, stray))}")
    settings = {
        "model": model,
        "mask": mask,
        "mask_sha256": h_mask.sha256(),
        "alphas": [float(a) for a in alphas],
        "controls": controls,
        "tasks": list(tasks),
        "limit": limit,
        **({"samples": samples} if samples is not None else {}),
        "apply_chat_template": apply_chat_template,
        "dtype": choice.dtype,
        "dtype_reason": choice.reason,
        "scale_via": scale_via,
        "seed": seed,
        "include_path": include_path,
        **({"ffn_site": ffn_site} if ffn_site else {}),
        **({"decoding": decoding} if decoding != "compact" else {}),  # both give the same texts
    }
    found = set(out.iterdir()) if out.is_dir() else None  # what the folder held before this call
    manifest = _open_manifest(out, settings, command)
    finished = 0
    try:
        _write_control_masks(h_mask, controls, out / "masks")
        todo = [c for c in configs if not (out / c.name / DONE).is_file()]
        for leftover in out.glob(".*.partial"):
            shutil.rmtree(leftover)  # an interrupted configuration: started again from scratch
        if not todo:
            logger.info("sweep %s: all %d configurations are done", out, len(configs))
            return [out / c.name for c in configs]
        if len(todo) < len(configs):
            done = [c.name for c in configs if c not in todo]
            logger.warning("sweep %s: resuming; %d finished configurations are skipped: %s", out, len(done),
                           ", ".join(done))

        from tqdm.auto import tqdm

        lm = _load_model(model, batch_size, device, choice, ffn_site, decoding)
        extra = {"dtype": choice.dtype, **({"scale_via": scale_via} if scale_via != "auto" else {}),
                 **({"ffn_site": ffn_site} if ffn_site else {}),
                 **({"decoding": decoding} if decoding != "compact" else {})}
        with tqdm(total=len(configs), initial=len(configs) - len(todo), desc="sweep configurations",
                  unit="config") as bar:
            for config in todo:
                bar.set_postfix_str(config.name)
                _evaluate(lm, config, model, extra, tasks, out, limit, samples, batch_size, apply_chat_template,
                          task_manager, seed, scale_via, command)
                manifest["finished"][config.name] = utc_now()
                write_json_atomic(out / MANIFEST, manifest)
                finished += 1
                bar.update(1)
    except BaseException:
        if not finished:  # failed before any configuration: leave the folder as it was found
            _remove_new(out, found)
        raise
    return [out / c.name for c in configs]


def _remove_new(out: Path, found: set[Path] | None) -> None:
    """Delete what this call added under ``out`` (all of ``out`` when it did not exist)."""
    if found is None:
        shutil.rmtree(out, ignore_errors=True)
        return
    for path in set(out.iterdir()) - found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _open_manifest(out: Path, settings: dict[str, Any], command: str) -> dict[str, Any]:
    """Start a sweep folder, or check that an existing one was started with the same settings."""
    path = out / MANIFEST
    if path.is_file():
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("settings") != settings:
            diff = sorted(k for k in settings if manifest.get("settings", {}).get(k) != settings[k])
            raise ValueError(
                f"{out} holds a sweep with other settings ({', '.join(diff)} differ); "
                "use another --out, or repeat that sweep's command to resume it"
            )
        return manifest
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists, is not empty and holds no {MANIFEST}; choose an empty or new --out")
    manifest = {"format": "hneuron-sweep", "format_version": 1, "settings": settings, "command": command,
                "created": utc_now(), "tool": f"hneuron-eval {__version__}", "finished": {}}
    write_json_atomic(path, manifest)
    return manifest


def _write_control_masks(h_mask: NeuronMask, controls: int, folder: Path) -> None:
    """Random controls with the mask's per-layer counts; written once, so a resumed sweep reuses them."""
    for seed in range(controls):
        path = folder / control_mask_name(seed)
        if not path.is_file():
            h_mask.random_control(seed).save(path)


def _load_model(model: str, batch_size: int | str, device: str, choice: DtypeChoice, ffn_site: str | None = None,
                decoding: str = "compact"):
    from hneuron_eval.harness.lm_model import HNeuronLM

    lm = HNeuronLM(pretrained=model, batch_size=batch_size, device=device, dtype=choice.dtype, ffn_site=ffn_site,
                   decoding=decoding)
    lm.dtype_choice = choice  # chosen here by the policy (or given), not by the model's own arguments
    return lm


def _evaluate(lm, config: SweepConfig, model: str, extra: dict[str, Any], tasks: Sequence[str], out: Path,
              limit: float | None, samples: dict[str, list[int]] | None, batch_size: int | str,
              apply_chat_template: bool, task_manager: Any,
              seed: int, scale_via: str, command: str) -> None:
    """One configuration through lm-eval's evaluator, saved as lm_eval's CLI saves a run, then renamed into place."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    lm.set_scaling(NeuronMask.load(config.mask) if config.mask else None, config.alpha, scale_via)
    lm.decoding_stats.clear()  # each configuration's results record its own decoding
    model_args = model_args_string(model, config, extra)
    partial = out / f".{config.name}.partial"
    tracker = EvaluationTracker(output_path=str(partial))
    results = simple_evaluate(
        model=lm,
        model_args=model_args,
        tasks=list(tasks),
        limit=limit,
        samples=samples,
        batch_size=batch_size,
        log_samples=True,
        evaluation_tracker=tracker,
        apply_chat_template=apply_chat_template,
        task_manager=task_manager,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    if results is None:
        raise RuntimeError(f"{config.name}: lm-eval returned no results")
    tracker.general_config_tracker.model_source = "hneuron-hf"
    results["config"]["model"] = "hneuron-hf"  # as a plain `lm_eval --model hneuron-hf` run records it
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task_name in results["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    if not any(partial.rglob("results_*.json")):
        raise RuntimeError(f"{config.name}: lm-eval wrote no results file under {partial}")
    write_json_atomic(partial / DONE, {**asdict(config), "model": model, "model_args": model_args,
                                       "intervention": results["config"].get("hneuron"), "command": command,
                                       "finished": utc_now()})
    apply_umask(partial)
    final = out / config.name
    if final.exists():
        shutil.rmtree(final)  # a folder without DONE: an older interrupted attempt
    os.replace(partial, final)
