"""The run directory: configuration and identity (run.json), and the five stages that fill it."""

from __future__ import annotations

import json
import platform
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hneuron_eval.core.fileio import ArtifactMismatchError, write_json_atomic
from hneuron_eval.core.provenance import utc_now
from hneuron_eval.core.stats import N_BOOT
from hneuron_eval.identify import questions as D
from hneuron_eval.judges import normalize_answer

#: Raw CETT values are small (~1e-3) and liblinear's penalty does not scale with n, so small runs need large C.
DEFAULT_C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


@dataclass
class RunConfig:
    """Everything a run depends on; stored in run.json so each stage can be re-run alone."""

    model: str
    samples: int = 10
    questions: int = 4000
    test_questions: int | None = None  # default: same as questions
    test_samples: int = 1  # the paper evaluates with one sample per question
    eval_questions: int = 1000  # per cross-domain set (NQ-Open, BioASQ, NEC)
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 0.9
    max_new_tokens: int = 50
    batch_size: int = 16
    feature_batch_size: int = 8
    feature_dtype: str = "float32"
    answer_tokens: str = "span"
    contrast: str = "3-vs-1"  # identify.fitting.CONTRASTS
    c_grid: list[float] = field(default_factory=lambda: list(DEFAULT_C_GRID))
    cv_folds: int = 5  # stratified, question-grouped folds of the sparsity path
    c_rule: str = "1se"  # identify.fitting.C_RULES
    suppress_questions: int = 0  # >0: measure task accuracy with each C's H-neurons ablated (c_rule suppression)
    train_per_class: int | None = None  # default: as many as balance allows
    min_per_class: int = 20
    random_seeds: int = 5
    n_boot: int = N_BOOT  # as the detector's CIs in lm-eval
    seed: int = 0
    device: str = "cpu"
    ffn_site: str | None = None  # LAYERS:DOWN_PROJ[:transposed] for an architecture outside the site table
    dtype: str | None = None  # the model's; None: the dtype policy (harness/precision.py), settled at the start


class IdentifyRun:
    """A run directory bound to one model and one run id."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        info_path = self.out / "run.json"
        if not info_path.exists():
            raise FileNotFoundError(
                f"{info_path}: not a run directory; start with 'hneuron-eval identify' or 'hneuron-eval sample'"
            )
        self.info = json.loads(info_path.read_text(encoding="utf-8"))
        self.config = RunConfig(**_upgrade(self.info["config"]))
        self.command = ""  # the command of the current invocation, recorded in every artifact a stage writes
        self._model = self._tokenizer = None

    @classmethod
    def create_or_open(cls, out: str | Path, config: RunConfig, command: str = "") -> IdentifyRun:
        """Open an existing run for the same model, or start one (loading the model once to read its FFN shape)."""
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise ArtifactMismatchError(f"--out {out} is a file; give a folder for the identification run")
        if (out / "run.json").exists():
            run = cls(out)
            if run.info["model"] != config.model:
                raise ArtifactMismatchError(
                    f"{out / 'run.json'}: this run directory belongs to model {run.info['model']!r}, "
                    f"not {config.model!r}; use another --out"
                )
            changed = {k: (v, getattr(config, k)) for k, v in asdict(run.config).items()
                       if getattr(config, k) is not None and v != getattr(config, k)}
            if changed:
                print(
                    f"[identify] resuming {out}: keeping the settings stored in run.json; ignored: "
                    + ", ".join(f"{k}={new!r} (run uses {old!r})" for k, (old, new) in changed.items())
                )
            run.command = command
            return run
        from hneuron_eval.core.sites import resolve_ffn
        from hneuron_eval.harness.precision import choose_dtype

        choice = choose_dtype(config.dtype, config.device)
        config.dtype = choice.dtype
        model, tok = _load(config)
        layout = resolve_ffn(model)
        info = {
            "run_id": uuid.uuid4().hex[:12],
            "created": utc_now(),
            "model": config.model,
            "architecture": layout.architecture,
            "model_type": layout.model_type,
            "num_layers": layout.num_layers,
            "d_ff": layout.d_ff,
            "d_model": layout.d_model,
            "versions": versions(),
            "config": asdict(config),
            "dtype_reason": choice.reason,
            "command": command,
        }
        write_json_atomic(out / "run.json", info)
        run = cls(out)
        run._model, run._tokenizer = model, tok
        run.command = command
        return run

    def settle(self, stage: str, given: dict[str, Any], started: bool) -> None:
        """Store a later stage's settings given on its command line in run.json, unless that stage has begun."""
        changed = {k: v for k, v in given.items() if v is not None and getattr(self.config, k) != v}
        if not changed:
            return
        if started:
            now = ", ".join(f"{k}={getattr(self.config, k)!r}" for k in changed)
            raise ArtifactMismatchError(
                f"{self.out}: the {stage} stage has already started with {now}; "
                f"delete its outputs to redo it with other settings"
            )
        for key, value in changed.items():
            setattr(self.config, key, value)
        self.info["config"] = asdict(self.config)
        write_json_atomic(self.out / "run.json", self.info)
        print(f"[identify] {self.out / 'run.json'}: " + ", ".join(f"{k}={v!r}" for k, v in changed.items()))

    def identity(self) -> dict[str, Any]:
        return {k: self.info[k] for k in ("model", "num_layers", "d_ff", "run_id")}

    def model_and_tokenizer(self):
        if self._model is None:
            self._model, self._tokenizer = _load(self.config)
        return self._model, self._tokenizer

    def residual_width(self) -> int:
        """The model's hidden size (d_model): the width of one layer's residual features."""
        if "d_model" not in self.info:  # runs started before it was recorded
            from hneuron_eval.core.sites import resolve_ffn

            self.info["d_model"] = resolve_ffn(self.model_and_tokenizer()[0]).d_model
        return int(self.info["d_model"])

    def slug(self) -> str:
        """File-name stem for the masks: a local directory's name, or the hub id with '/' -> '--'."""
        model = self.info["model"]
        return Path(model).name if Path(model).is_dir() else model.replace("/", "--")

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)

    def train_questions(self) -> tuple[list[D.Question], D.QuestionSet]:
        qs = D.triviaqa_train()
        return _subset(qs.questions, self.config.questions, self.config.seed), qs

    def test_questions(self) -> tuple[list[D.Question], D.QuestionSet]:
        """Dev-file questions whose text does not occur in the train-heldout file (dropped ones are counted)."""
        train_texts = {normalize_answer(q.question) for q in D.triviaqa_train().questions}
        qs = D.triviaqa_dev()
        kept = [q for q in qs.questions if normalize_answer(q.question) not in train_texts]
        qs.skipped["same question text in the train file"] = len(qs.questions) - len(kept)
        n = self.config.test_questions or self.config.questions
        return _subset(kept, n, self.config.seed + 1), qs


def _load(config: RunConfig):
    """The run's model and tokenizer, with its FFN site registered first when it names one."""
    from hneuron_eval.core.sites import use_site
    from hneuron_eval.harness.builtin_models import load_model, resolve_pretrained

    if config.ffn_site:
        use_site(resolve_pretrained(config.model), config.ffn_site)
    return load_model(config.model, dtype=config.dtype or "float32", device=config.device)


def _upgrade(config: dict[str, Any]) -> dict[str, Any]:
    """Older run.json files: the probe contrast was called ``mode``, every run was float32, and C was chosen on a
    held-out fraction (``val_fraction``; now by cross-validation, with the defaults)."""
    return {"dtype": "float32", **{("contrast" if k == "mode" else k): v for k, v in config.items()
                                   if k != "val_fraction"}}


def _subset(questions: list[D.Question], n: int, seed: int) -> list[D.Question]:
    order = np.random.default_rng(seed).permutation(len(questions))[:n]
    return [questions[i] for i in order]


def versions() -> dict[str, str]:
    import sklearn
    import torch
    import transformers

    from hneuron_eval import __version__

    return {
        "hneuron_eval": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
