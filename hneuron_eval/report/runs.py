"""lm-eval output folders read back: which model and intervention a run is, its metrics and per-document samples.

Any ``lm_eval ... --output_path`` folder is a run (``hf``, ``vllm``, ``hneuron-hf``, a sweep's
configuration); the intervention comes from ``config.hneuron``, which ``hneuron-hf`` records.
Folders that cannot be read as lm-eval 0.4 results are skipped with a warning that names the
file and the problem, never silently.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hneuron_eval.core.run_kind import RunKind

SUPPORTED_LM_EVAL = "0.4."
_REQUIRED = ("results", "config", "lm_eval_version", "higher_is_better", "n-samples")


class RunWarning(UserWarning):
    """A results file was skipped or a run was set aside; the message says which and why."""


@dataclass(frozen=True)
class Intervention:
    """What was done to the model: nothing, an H-neuron mask or a random control, at one alpha."""

    kind: RunKind
    alpha: float | None = None
    seed: int | None = None
    mask_sha256: str | None = None

    @property
    def label(self) -> str:
        if self.kind is RunKind.BASELINE:
            return "none"
        alpha = "per-neuron" if self.alpha is None else format(self.alpha, "g")
        if self.kind is RunKind.CONTROL:
            return f"random #{self.seed} α={alpha}"
        return f"H-neurons α={alpha}"

    def sort_key(self) -> tuple:
        order = {RunKind.BASELINE: 0, RunKind.HNEURONS: 1, RunKind.CONTROL: 2}[self.kind]
        return (order, -1.0 if self.alpha is None else self.alpha, -1 if self.seed is None else self.seed)


@dataclass
class EvalRun:
    """One results JSON of lm-eval and the logged samples written beside it."""

    path: Path
    model: str
    chat: bool
    intervention: Intervention
    data: dict[str, Any] = field(repr=False)
    _samples: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict, repr=False)

    @property
    def model_label(self) -> str:
        return f"{self.model} (chat)" if self.chat else self.model

    @property
    def date(self) -> float:
        return float(self.data.get("date") or 0.0)

    @property
    def dtype(self) -> str:
        """The model's dtype: as hneuron-hf recorded it, else the model_args' ``dtype=``, else ``auto``."""
        recorded = self.data["config"].get("hneuron_dtype")
        if isinstance(recorded, dict) and recorded.get("dtype"):
            return str(recorded["dtype"])
        return _model_args(self.data["config"]).get("dtype", "auto")

    def tasks(self) -> list[str]:
        return sorted(self.data["results"])

    def metric(self, task: str, metric: str) -> tuple[float, float | None] | None:
        """(value, standard error) as lm-eval reported it, or None when the run has no such metric."""
        entry = self.data["results"].get(task, {})
        key = next((k for k in entry if k.split(",")[0] == metric and not k.endswith("_stderr")), None)
        if key is None or not _number(entry[key]):
            return None
        flt = key.split(",", 1)[1] if "," in key else ""
        stderr = entry.get(f"{metric}_stderr,{flt}" if flt else f"{metric}_stderr")
        return float(entry[key]), float(stderr) if _number(stderr) else None

    def metric_names(self, task: str) -> list[str]:
        entry = self.data["results"].get(task, {})
        names = [k.split(",")[0] for k in entry if "," in k and "_stderr" not in k.split(",")[0]]
        return [n for n in dict.fromkeys(names) if self.metric(task, n) is not None]

    def higher_is_better(self, task: str, metric: str) -> bool | None:
        value = self.data["higher_is_better"].get(task, {}).get(metric)
        return value if isinstance(value, bool) else None

    def sample_size(self, task: str) -> int | None:
        entry = self.data["n-samples"].get(task)
        return int(entry["effective"]) if isinstance(entry, dict) and "effective" in entry else None

    def subtasks(self, task: str) -> list[str]:
        """The leaf tasks under a group (recursively); ``[task]`` for a task."""
        members = self.data.get("group_subtasks", {}).get(task)
        if not members:
            return [task]
        return [leaf for member in members for leaf in self.subtasks(member)]

    def judge_versions(self) -> set[str]:
        return {str(c["metadata"]["hn_judge_version"]) for c in self.data.get("configs", {}).values()
                if isinstance(c.get("metadata"), dict) and "hn_judge_version" in c["metadata"]}

    def samples(self, task: str) -> dict[int, dict[str, float]] | None:
        """doc_id -> the per-document metric values logged for ``task``; None without ``--log_samples``."""
        if task not in self._samples:
            stamp = self.path.stem[len("results_"):]
            path = self.path.with_name(f"samples_{task}_{stamp}.jsonl")
            if not path.is_file():
                return None
            docs: dict[int, dict[str, float]] = {}
            with path.open(encoding="utf-8") as f:
                for line_no, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                        doc_id = int(row["doc_id"])
                        names = row.get("metrics") or []
                    except (ValueError, KeyError, TypeError) as exc:
                        raise ValueError(f"{path}, line {line_no}: not an lm-eval sample record ({exc})") from None
                    docs[doc_id] = {m: float(row[m]) for m in names if _number(row.get(m))}
            self._samples[task] = docs
        return self._samples[task]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _model_args(config: dict[str, Any]) -> dict[str, str]:
    args = config.get("model_args") or {}
    if isinstance(args, str):
        pairs = (item.split("=", 1) for item in args.split(",") if "=" in item)
        args = {k.strip(): v.strip() for k, v in pairs}
    return {str(k): str(v) for k, v in args.items()}


def _model_name(data: dict[str, Any]) -> str:
    args = _model_args(data["config"])
    name = args.get("pretrained") or args.get("model") or str(data.get("model_name") or data["config"].get("model"))
    path = Path(name)
    return path.name if path.is_absolute() or name.startswith(("./", "../", "~")) else name


def _intervention(config: dict[str, Any]) -> Intervention:
    info = config.get("hneuron")
    if not isinstance(info, dict):
        return Intervention(RunKind.BASELINE)  # lm-eval's own models, or hneuron-hf before it recorded a kind
    kind = _kind(info)
    if kind is RunKind.BASELINE:
        return Intervention(RunKind.BASELINE)
    alpha = info.get("alpha")
    alpha = float(alpha) if _number(alpha) else (float(info["default_alpha"]) if _number(info.get("default_alpha"))
                                                  else None)
    sha = info.get("mask_sha256")
    if kind is RunKind.CONTROL:
        seed = info.get("mask_seed", _recorded_mask(info).get("seed"))
        return Intervention(RunKind.CONTROL, alpha, int(seed) if _number(seed) else None, sha)
    return Intervention(RunKind.HNEURONS, alpha, None, sha)


def _kind(info: dict[str, Any]) -> RunKind:
    """``config.hneuron.kind``; results written before it was recorded are read by their mask method and alpha."""
    if "kind" in info:
        try:
            return RunKind(info["kind"])
        except ValueError:
            raise ValueError(f"config.hneuron.kind: expected one of {[k.value for k in RunKind]}, got "
                             f"{info['kind']!r}") from None
    method = info.get("mask_method") or _recorded_mask(info).get("method")
    if str(method or "").startswith("random"):
        return RunKind.CONTROL
    return RunKind.BASELINE if info.get("alpha") == 1.0 else RunKind.HNEURONS


def _recorded_mask(info: dict[str, Any]) -> dict[str, Any]:
    """The provenance of the mask file a results file names, when it is still there with the recorded hash (results
    written before the mask's method was recorded name only its path); else nothing."""
    from hneuron_eval.core.masks import NeuronMask

    path = Path(str(info.get("mask") or ""))
    if not info.get("mask") or not path.is_file():
        return {}
    try:
        mask = NeuronMask.load(path)
    except (OSError, ValueError):
        return {}
    return dict(mask.provenance) if mask.sha256() == info.get("mask_sha256") else {}


def read_run(path: Path) -> EvalRun | None:
    """One ``results_*.json``, or None (with a RunWarning naming the file) when it cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path}: skipped, not readable as JSON ({exc})", RunWarning, stacklevel=2)
        return None
    missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        warnings.warn(f"{path}: skipped, not an lm-eval results file (missing {', '.join(missing)})",
                      RunWarning, stacklevel=2)
        return None
    version = str(data["lm_eval_version"])
    if not version.startswith(SUPPORTED_LM_EVAL):
        warnings.warn(f"{path}: skipped, written by lm-eval {version} (this reader knows {SUPPORTED_LM_EVAL}x)",
                      RunWarning, stacklevel=2)
        return None
    try:
        intervention = _intervention(data["config"])
    except ValueError as exc:
        warnings.warn(f"{path}: skipped, {exc}", RunWarning, stacklevel=2)
        return None
    chat = bool(data.get("chat_template_sha") or data.get("chat_template"))
    return EvalRun(path, _model_name(data), chat, intervention, data)


def find_runs(folders: list[str | Path]) -> list[EvalRun]:
    """Every usable run under ``folders``; one run per model x intervention (the latest, with a warning)."""
    paths: list[Path] = []
    for folder in map(Path, folders):
        if not folder.exists():
            raise ValueError(f"{folder}: no such file or folder")
        found = [folder] if folder.is_file() else sorted(folder.rglob("results_*.json"))
        if not found:
            raise ValueError(f"{folder}: no lm-eval results_*.json under it (was it written by lm_eval --output_path?)")
        paths.extend(found)
    chosen: dict[tuple, EvalRun] = {}
    for path in sorted(set(paths)):
        run = read_run(path)
        if run is None:
            continue
        key = (run.model_label, run.intervention)
        if key in chosen:
            old, new = sorted((chosen[key], run), key=lambda r: (r.date, str(r.path)))
            warnings.warn(f"{old.path}: set aside, {new.path} is a later run of {run.model_label} with "
                          f"intervention {run.intervention.label}", RunWarning, stacklevel=2)
            run = new
        chosen[key] = run
    if not chosen:
        raise ValueError(f"no usable lm-eval results under {', '.join(map(str, folders))}")
    return sorted(chosen.values(), key=lambda r: (r.model_label, r.intervention.sort_key()))
