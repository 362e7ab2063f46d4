"""The H-neuron detector inside lm-eval: score each generated answer from the activations of its own generation.

While ``hneuron-hf`` generates, forward hooks on the down projections keep, for the neurons the
probe reads (its non-zero weights), the CETT value of every decoding step. Token k of an answer
is fed to the model at decoding step k+1, so its CETT comes from that step: no second forward
pass. The features are the identification pipeline's (``core/cett.py``): CETT averaged over
the answer tokens found by its first-line rule (``core/answer_span.py``) in the generated
token ids, cut at the first end-of-sequence token. One token can be missing: a row's last generated
token is never fed back, so an answer span that runs to the generation budget (or to the token that
completed a stop sequence) loses its final token (counted per run in ``HNeuronLM.monitor_stats``).
Each forward call is recorded with the rows it held (``core.generation.active_rows``): under
continuous batching rows join and leave, and each keeps its own timeline.

Scores travel with their answers: ``generate_until`` returns each answer as a ``ScoredText`` (a
``str`` carrying its score), lm-eval keeps that object in the request's responses, and the task's
``process_results`` reads the score off it (``score_of``). Nothing is kept between calls.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hneuron_eval.core.answer_span import RULE, SpanFinder
from hneuron_eval.core.cett import cett, column_norms
from hneuron_eval.core.generation import active_rows
from hneuron_eval.core.hooks import forward_hooks
from hneuron_eval.core.probe import INPUT_DEFINITION, HNeuronProbe
from hneuron_eval.core.residual import RESIDUAL_DEFINITION, layer_output
from hneuron_eval.core.sites import FFNLayout, base_layer, resolve_ffn
from hneuron_eval.core.stats import auroc as _auc
from hneuron_eval.core.stats import auroc_ci, auroc_difference_ci, wilson_ci
from hneuron_eval.errors import HNeuronError
from hneuron_eval.harness.baselines import BASELINES, STATISTICS


class DetectorError(HNeuronError, ValueError):
    """A detector (probe folder) is missing, corrupt or made for something else; the message names the file."""


class ScoredText(str):
    """A generated answer that carries the detector's score (None: not scored), its controls' and its baselines.

    ``baselines`` holds the output-only statistics of ``harness/baselines.py`` (None: not asked
    for; empty: no answer tokens to read them from).
    """

    score: float | None
    controls: tuple[float | None, ...]
    baselines: dict[str, float] | None

    def __new__(cls, text: str, score: float | None, controls: tuple[float | None, ...] = (),
                baselines: dict[str, float] | None = None) -> ScoredText:
        self = super().__new__(cls, text)
        self.score, self.controls, self.baselines = score, tuple(controls), baselines
        return self

    def __reduce__(self):  # copies and multi-process gathers keep the scores
        return ScoredText, (str(self), self.score, self.controls, self.baselines)


@dataclass(frozen=True)
class Watched:
    """What the detector run attached to one answer: its score, its controls' scores and its baselines."""

    score: float | None
    controls: tuple[float | None, ...] = ()
    baselines: dict[str, float] | None = None


def score_of(results: list) -> Watched | None:
    """What the detector attached to a document's answer; None when no detector watched the generation."""
    answer = results[0] if results else None
    return Watched(answer.score, answer.controls, answer.baselines) if isinstance(answer, ScoredText) else None


def probe_paths(path: str | Path) -> tuple[Path, Path]:
    """(probe.json, probe.safetensors) of a probe folder or of a ``probe.json`` path."""
    path = Path(path)
    header = path / "probe.json" if path.is_dir() else path.with_suffix(".json")
    return header, header.with_suffix(".safetensors")


@dataclass
class _Recording:
    """CETT of the watched neurons at the last position of each forward call: layer -> (rows, (rows, n) values).

    ``rows`` are the call's rows in the generation's batch (``core.generation.active_rows``; None:
    every row, as under HF's ``generate``).
    """

    calls: dict[int, list[tuple[torch.Tensor | None, torch.Tensor]]] = field(default_factory=dict)

    def timelines(self, n_rows: int) -> list[list[tuple[int, int]]]:
        """Per row, (call, position in that call) of each forward call it was in, in order."""
        first = next(iter(self.calls.values()), [])
        out: list[list[tuple[int, int]]] = [[] for _ in range(n_rows)]
        for c, (rows, values) in enumerate(first):
            for pos, r in enumerate(range(values.shape[0]) if rows is None else rows.tolist()):
                out[r].append((c, pos))
        return out


def answer_spans(output: torch.Tensor, context_width: int, end_ids: set[int], finder: SpanFinder,
                 lengths: list[int] | None = None) -> list[tuple[list[int], int, int]]:
    """Per row: its generated ids (cut at ``lengths``) and the answer span [start, end) the detector scores.

    The span is identification's first-line rule on the ids before the first end-of-sequence token.
    """
    out = []
    for row, seq in enumerate(output[:, context_width:].tolist()):
        seq = seq if lengths is None else seq[:lengths[row]]
        cut = next((k for k, t in enumerate(seq) if t in end_ids), len(seq))
        start, end, _ = finder.find(seq[:cut])
        out.append((seq, start, end))
    return out


class Detector:
    """A saved probe bound to one model: ``watch()`` records, ``answer_features()`` and ``score()`` score.

    The probe reads CETT of FFN neurons (H-neurons, random neurons, all neurons) or, for the
    residual-stream baseline, the hidden state a decoder layer outputs (``core/residual.py``).
    """

    def __init__(self, probe: HNeuronProbe, header: dict[str, Any], source: Path, layout: FFNLayout):
        self.probe, self.header, self.source, self.layout = probe, header, source, layout
        self.residual = header.get("input_definition") == RESIDUAL_DEFINITION
        self.unit = layout.d_model if self.residual else layout.d_ff  # features per layer
        flat, _ = probe.neuron_weights()
        self.flat = np.sort(flat)
        by_layer: dict[int, list[int]] = {}
        for i in self.flat:
            by_layer.setdefault(int(i) // self.unit, []).append(int(i) % self.unit)
        self.layers = {layer: torch.tensor(idx) for layer, idx in by_layer.items()}  # watched units, ascending

    @classmethod
    def load(cls, path: str | Path, model: nn.Module, model_name: str) -> Detector:
        """Read a probe folder and check it against ``model``: before any generation, with errors naming the file."""
        header_path, tensor_path = probe_paths(path)
        for p in (header_path, tensor_path):
            if not p.is_file():
                raise DetectorError(f"detector {path}: missing file {p} (a probe folder holds probe.json and "
                                    "probe.safetensors, as written by hneuron-eval identify/probe)")
        try:
            json.loads(header_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DetectorError(f"detector {header_path}: not a JSON probe header ({exc})") from None
        try:
            probe, header = HNeuronProbe.load(header_path)
        except Exception as exc:  # the header parsed, so the weights are what is unreadable or inconsistent
            raise DetectorError(f"detector {tensor_path}: unreadable probe weights ({type(exc).__name__}: {exc})") \
                from None
        layout = resolve_ffn(model)
        identity = header.get("identity", {})
        if (identity.get("num_layers"), identity.get("d_ff")) != (layout.num_layers, layout.d_ff):
            raise DetectorError(
                f"detector {header_path}: made for {identity.get('model')!r} ({identity.get('num_layers')} layers x "
                f"d_ff {identity.get('d_ff')}), this model has {layout.num_layers} layers x d_ff {layout.d_ff}")
        made_for = str(identity.get("model") or "")
        if made_for and model_name and Path(made_for).name != Path(model_name).name:
            raise DetectorError(f"detector {header_path}: made for model {made_for!r}, not {model_name!r}")
        definition = header.get("input_definition")
        if definition not in (INPUT_DEFINITION, RESIDUAL_DEFINITION):
            raise DetectorError(f"detector {header_path}: field 'input_definition' is {definition!r}; the detector "
                                f"computes {INPUT_DEFINITION!r} or {RESIDUAL_DEFINITION!r}")
        if header.get("answer_rule") != RULE:
            raise DetectorError(f"detector {header_path}: field 'answer_rule' is {header.get('answer_rule')!r}; the "
                                f"detector computes {RULE!r}")
        width, what = ((layout.num_layers * layout.d_model, f"{layout.num_layers} layers x d_model {layout.d_model}")
                       if definition == RESIDUAL_DEFINITION else (layout.num_neurons, "FFN neurons"))
        if probe.n_features_in_ != width:
            raise DetectorError(f"detector {header_path}: n_features_in {probe.n_features_in_} != {width} ({what})")
        return cls(probe, header, header_path, layout)

    def to_dict(self) -> dict[str, Any]:
        """What to record next to results."""
        reads = ({"reads": f"residual stream after layer {', '.join(map(str, self.layers))}",
                  "dimensions_read": int(len(self.flat))} if self.residual else {"neurons_read": int(len(self.flat))})
        return {"probe": str(self.source), "model": self.header.get("identity", {}).get("model"),
                "run_id": self.header.get("identity", {}).get("run_id"), **reads,
                "C": self.probe.C, "tokens": "answer span of the generated ids (first-line rule), as identification"}

    @contextlib.contextmanager
    def watch(self) -> Iterator[_Recording]:
        """Record the watched units on every forward call inside the block; hooks removed afterwards."""
        rec = _Recording({layer: [] for layer in self.layers})
        if self.residual:
            hooks = [(self.layout.layers[layer], self._residual_hook(layer, idx, rec))
                     for layer, idx in self.layers.items()]
        else:
            downs = self.layout.down_projs
            hooks = [(downs[layer], self._hook(layer, idx, downs[layer], rec)) for layer, idx in self.layers.items()]
        with forward_hooks(post=hooks):
            yield rec

    @staticmethod
    def _residual_hook(layer: int, idx: torch.Tensor, rec: _Recording):
        def hook(mod: nn.Module, args: tuple, output: Any) -> None:
            h = layer_output(output).detach()[:, -1]
            active = active_rows()
            rec.calls[layer].append((None if active is None else active[0].cpu(), h[:, idx.to(h.device)].float().cpu()))

        return hook

    def _hook(self, layer: int, idx: torch.Tensor, module: nn.Module, rec: _Recording):
        # column norms read when the block starts: a folded mask's scaled columns count as scaled, as with hooks
        norms, bias = column_norms(module, self.layout.transposed, idx), getattr(base_layer(module), "bias", None)

        def hook(mod: nn.Module, args: tuple, output: torch.Tensor) -> None:
            # only the last position is kept: it is the token fed at this decoding step (answer_features)
            z = args[0].detach()[:, -1, idx.to(args[0].device)]
            active = active_rows()
            rows = None if active is None else active[0].cpu()
            rec.calls[layer].append((rows, cett(z, output.detach()[:, -1], norms, bias).cpu()))

        return hook

    def answer_features(self, rec: _Recording, context_width: int, output: torch.Tensor, end_ids: set[int],
                        finder: SpanFinder, lengths: list[int] | None = None) -> list[tuple[np.ndarray | None, str]]:
        """Per row: the watched neurons' CETT averaged over the answer tokens (layer-major), or None, and a note.

        ``lengths`` (tokens each row generated, its ending token included) cuts a row that ended on a
        stop sequence: what follows was never generated (compact decoding) or is not its answer. A row's
        last token is fed back only while the batch decodes on, never under compact decoding, so it is
        left out under both: a row gets the same features either way.
        """
        timelines = rec.timelines(output.shape[0])  # a row's first call is its prompt's forward pass
        out: list[tuple[np.ndarray | None, str]] = []
        for row, (_, start, end) in enumerate(answer_spans(output, context_width, end_ids, finder, lengths)):
            steps = timelines[row][1:]  # token k is fed at the row's call k+1 (index k here)
            fed_until = len(steps) if lengths is None else min(len(steps), lengths[row] - 1)
            fed = [k for k in range(start, end) if k < fed_until]
            if not self.layers or not fed:
                out.append((None, "probe reads no neuron" if not self.layers else "no answer tokens"))
                continue
            values = [torch.stack([rec.calls[layer][steps[k][0]][1][steps[k][1]] for k in fed]).mean(dim=0)
                      for layer in self.layers]
            note = "last answer token not fed back (the last generated)" if len(fed) < end - start else "scored"
            out.append((torch.cat(values).double().numpy(), note))
        return out

    def score(self, features: np.ndarray) -> float:
        """Probability of hallucination the probe gives an answer with these watched-neuron features."""
        x = np.zeros((1, self.probe.n_features_in_))
        x[0, self.flat] = features
        return float(self.probe.predict_proba(x)[0, 1])


# ---- lm-eval aggregations of the per-document items [score, label] ------------------------------------
# Every document of a watched task reports every detector metric (NaN where its answer was not scored
# or is neither correct nor hallucinated), so lm-eval counts the same documents for all of them.

def _labelled(items: list, column: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(scores of ``column``: 0 the detector, 2.. its controls; labels) of the scored, labelled answers."""
    arr = np.array([[row[column], row[1]] for row in items], dtype=float).reshape(-1, 2)
    keep = np.isfinite(arr).all(axis=1)
    return arr[keep, 0], arr[keep, 1]


def auroc(items: list, column: int = 0) -> float:
    """AUROC of the detector's scores against the task judge's hallucinated (1) / correct (0) labels."""
    scores, labels = _labelled(items, column)
    pos, neg = scores[labels == 1], scores[labels == 0]
    return _auc(pos, neg) if len(pos) and len(neg) else math.nan


def _control_aurocs(items: list) -> list[float]:
    width = min((len(row) for row in items), default=2)
    return [auroc(items, column) for column in range(2, width)]


def controls_auroc_mean(items: list) -> float:
    """Mean AUROC of the control detectors (random neurons) on the same answers."""
    aucs = [a for a in _control_aurocs(items) if not math.isnan(a)]
    return float(np.mean(aucs)) if aucs else math.nan


def controls_auroc_max(items: list) -> float:
    """Best AUROC among the control detectors."""
    aucs = [a for a in _control_aurocs(items) if not math.isnan(a)]
    return max(aucs) if aucs else math.nan


def controls_beaten(items: list) -> float:
    """How many control detectors have a lower AUROC than the detector on the same answers."""
    main = auroc(items)
    return float(sum(a < main for a in _control_aurocs(items))) if not math.isnan(main) else math.nan


def _auroc_ci(items: list) -> tuple[float, float]:
    """95% bootstrap CI of the detector's AUROC (core.stats.auroc_ci: hallucinated and correct resampled apart)."""
    scores, labels = _labelled(items)
    return auroc_ci(scores[labels == 1], scores[labels == 0])


def auroc_difference(items: list, column: int) -> tuple[float, float, float]:
    """Detector AUROC minus control ``column``'s on the same answers, with its 95% paired bootstrap CI."""
    rows = np.array([[row[0], row[column], row[1]] for row in items if len(row) > column], dtype=float).reshape(-1, 3)
    rows = rows[np.isfinite(rows).all(axis=1)]
    return auroc_difference_ci(rows[rows[:, 2] == 1, :2], rows[rows[:, 2] == 0, :2])


def auroc_ci_low(items: list) -> float:
    return _auroc_ci(items)[0]


def auroc_ci_high(items: list) -> float:
    return _auroc_ci(items)[1]


def _hits(items: list, threshold: float = 0.5) -> tuple[int, int]:
    scores, labels = _labelled(items)
    return int(((scores > threshold) == (labels == 1)).sum()), len(labels)


def accuracy(items: list) -> float:
    """Share of labelled answers the probe classifies right at its threshold (probability 0.5)."""
    k, n = _hits(items)
    return k / n if n else math.nan


def _accuracy_ci(items: list) -> tuple[float, float]:
    return wilson_ci(*_hits(items))


def accuracy_ci_low(items: list) -> float:
    return _accuracy_ci(items)[0]


def accuracy_ci_high(items: list) -> float:
    return _accuracy_ci(items)[1]


def _baseline_column(name: str) -> int:
    return 2 + STATISTICS.index(name)


def _oriented(items: list, name: str) -> list:
    """Items [score, label] with baseline ``name`` in the score's place, higher meaning more likely hallucinated."""
    col, sign = _baseline_column(name), BASELINES[name]
    return [[sign * row[col], row[1]] for row in items]


@functools.lru_cache(maxsize=64)
def _paired(data: bytes, n: int) -> tuple[float, float, float]:
    rows = np.frombuffer(data).reshape(n, 3)
    return auroc_difference_ci(rows[rows[:, 2] == 1, :2], rows[rows[:, 2] == 0, :2])


def baseline_difference(items: list, name: str) -> tuple[float, float, float]:
    """Detector AUROC minus baseline ``name``'s on the same answers, with its 95% paired bootstrap CI."""
    col, sign = _baseline_column(name), BASELINES[name]
    rows = np.array([[row[0], sign * row[col], row[1]] for row in items], dtype=float).reshape(-1, 3)
    rows = np.ascontiguousarray(rows[np.isfinite(rows).all(axis=1)])
    return _paired(rows.tobytes(), len(rows))  # the CI's two ends are two metrics: one bootstrap serves both


def _baseline_metrics() -> dict[str, tuple[Any, bool]]:
    """Per output-only baseline: its AUROC, and the detector's AUROC minus it with the paired CI."""
    out: dict[str, tuple[Any, bool]] = {}
    for name in BASELINES:
        def baseline_auroc(items: list, name: str = name) -> float:
            return auroc(_oriented(items, name))

        def minus(items: list, name: str = name) -> float:
            return baseline_difference(items, name)[0]

        def minus_low(items: list, name: str = name) -> float:
            return baseline_difference(items, name)[1]

        def minus_high(items: list, name: str = name) -> float:
            return baseline_difference(items, name)[2]

        out.update({f"baseline_{name}_auroc": (baseline_auroc, True),
                    f"detector_minus_{name}_auroc": (minus, True),
                    f"detector_minus_{name}_auroc_ci_low": (minus_low, True),
                    f"detector_minus_{name}_auroc_ci_high": (minus_high, True)})
    return out


def detector_metrics(score: float | None, cls: str, controls: tuple[float | None, ...] = (),
                     baselines: dict[str, float] | None = None) -> dict[str, Any]:
    """Per-document detector metrics of a QA answer of class ``cls`` (labelled when correct or hallucinated).

    The item the detector's aggregations read is [score, label, control scores...]; the control
    metrics are reported only when control detectors watched the generation too. The baselines'
    item is [score, label, *STATISTICS] (NaN where unread), reported when ``baselines`` is given.
    """
    label = {"hallucinated": 1.0, "correct": 0.0}.get(cls, math.nan)
    item = [math.nan if s is None else s for s in (score, label, *controls)]
    out: dict[str, Any] = {"detector_coverage": float(score is not None and not math.isnan(label))}
    out.update((m, item) for m in DETECTOR_METRICS if m != "detector_coverage" and (controls or "controls" not in m))
    if baselines is not None:
        row = [item[0], label, *(float(baselines.get(k, math.nan)) for k in STATISTICS)]
        out.update((m, row) for m in BASELINE_METRICS)
    return out


# metric -> (aggregation, higher_is_better); the monitored kinds' metric_list adds these
DETECTOR_METRICS: dict[str, tuple[Any, bool]] = {
    "detector_auroc": (auroc, True),
    "detector_auroc_ci_low": (auroc_ci_low, True),
    "detector_auroc_ci_high": (auroc_ci_high, True),
    "detector_accuracy": (accuracy, True),
    "detector_accuracy_ci_low": (accuracy_ci_low, True),
    "detector_accuracy_ci_high": (accuracy_ci_high, True),
    "detector_coverage": ("mean", True),
    "detector_controls_beaten": (controls_beaten, True),
    "detector_controls_auroc_mean": (controls_auroc_mean, True),
    "detector_controls_auroc_max": (controls_auroc_max, True),
}
BASELINE_METRICS: dict[str, tuple[Any, bool]] = _baseline_metrics()
METRICS: dict[str, tuple[Any, bool]] = {**DETECTOR_METRICS, **BASELINE_METRICS}
