"""Where H-neurons come from: parameter drift between a base and a tuned checkpoint, and probe transfer.

The paper's third claim is that H-neurons originate in pre-training. Two measurements test it:

- **Drift per neuron.** For neuron j of layer l: 1 - cosine between the two checkpoints of its
  input-projection rows (up, and gate where the FFN is gated) and of its down-projection column.
  Each component is z-scored over all FFN neurons, and a neuron's drift is the mean of its
  z-scores. The H-neurons' mean drift is ranked against random sets with the same per-layer
  counts (one-sided permutation test: do H-neurons drift *more*?), and their drift against all
  other neurons (one-sided Mann-Whitney U). Small drift is what "from pre-training" predicts.
- **Probe transfer.** The tuned model's probe, unchanged, scores the base model's CETT on the
  tuned model's labelled test responses, the base model prompted few-shot as the suite prompts
  it (``identify/prompt_ids.py``), as AUROC with its bootstrap CI next to the tuned model's own.

The input projections are found in the down projection's parent module: the linear maps from
the hidden size to d_ff (two halves of a fused 2*d_ff map count as gate and up).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hneuron_eval.core.masks import NeuronMask
from hneuron_eval.core.sites import FFNLayout, base_layer, resolve_ffn
from hneuron_eval.errors import HNeuronError

PERMUTATIONS = 10_000
NO_DRIFT = 1e-6  # standard deviation of 1 - cosine below which a component has not moved


class OriginError(HNeuronError, ValueError):
    """Base and tuned models, mask or probe do not belong together; the message names both sides."""


def _weight(module: nn.Module) -> torch.Tensor:
    return base_layer(module).weight.detach().float()


def _parent(model: nn.Module, child: nn.Module) -> nn.Module:
    for module in model.modules():
        if any(c is child for c in module.children()):
            return module
    raise OriginError(f"{type(child).__name__}: no parent module found")


def input_rows(model: nn.Module, layout: FFNLayout, layer: int) -> dict[str, torch.Tensor]:
    """The (d_ff, d_model) input-projection rows of one layer's neurons, by name (``up``, ``gate``, or the module's)."""
    down = layout.down_projs[layer]
    found: dict[str, torch.Tensor] = {}
    for name, module in _parent(model, down).named_children():
        weight = getattr(base_layer(module), "weight", None)
        if module is down or not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            continue
        w = _weight(module)
        w = w.T if layout.transposed else w  # (out, in) as nn.Linear stores it
        if w.shape == (layout.d_ff, layout.d_model):
            found[name] = w
        elif w.shape == (2 * layout.d_ff, layout.d_model):  # fused gate and up (phi3)
            found["gate"], found["up"] = w[:layout.d_ff], w[layout.d_ff:]
    if not found:
        raise OriginError(f"{layout.model_type} layer {layer}: no input projection from {layout.d_model} to "
                          f"{layout.d_ff} next to its down projection")
    return found


def down_columns(layout: FFNLayout, layer: int) -> torch.Tensor:
    """The (d_ff, d_model) down-projection columns of one layer's neurons, one row per neuron."""
    w = _weight(layout.down_projs[layer])  # (d_model, d_ff), or (d_ff, d_model) transposed
    return w if layout.transposed else w.T


def _one_minus_cos(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    return (1 - torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-12)).double().numpy()


def check_pair(base: nn.Module, tuned: nn.Module, base_name: str, tuned_name: str) -> tuple[FFNLayout, FFNLayout]:
    """Both layouts; refused, naming both shapes, when the checkpoints are not two versions of one architecture."""
    lb, lt = resolve_ffn(base), resolve_ffn(tuned)
    shape = lambda lay: (f"{lay.architecture}, {lay.num_layers} layers x d_ff {lay.d_ff}, "  # noqa: E731
                         f"d_model {lay.d_model}")
    if (lb.model_type, lb.num_layers, lb.d_ff, lb.d_model) != (lt.model_type, lt.num_layers, lt.d_ff, lt.d_model):
        raise OriginError(f"base {base_name!r} ({shape(lb)}) and tuned {tuned_name!r} ({shape(lt)}) are not two "
                          "checkpoints of one architecture")
    for layer in range(lb.num_layers):
        rb, rt = input_rows(base, lb, layer), input_rows(tuned, lt, layer)
        if rb.keys() != rt.keys():
            raise OriginError(f"layer {layer}: base has input projections {sorted(rb)}, tuned {sorted(rt)}")
    return lb, lt


def drift(base: nn.Module, tuned: nn.Module, lb: FFNLayout, lt: FFNLayout) -> dict[str, np.ndarray]:
    """Per component (input projections by name, ``down``): 1 - cosine per neuron, flat layer-major; and ``score``."""
    parts: dict[str, list[np.ndarray]] = {}
    for layer in range(lb.num_layers):
        rb, rt = input_rows(base, lb, layer), input_rows(tuned, lt, layer)
        for name in rb:
            parts.setdefault(name, []).append(_one_minus_cos(rb[name], rt[name]))
        parts.setdefault("down", []).append(_one_minus_cos(down_columns(lb, layer), down_columns(lt, layer)))
    out = {name: np.concatenate(values) for name, values in parts.items()}
    # a component whose drift is float rounding only (identical checkpoints) carries no ranking: all zero
    z = [(v - v.mean()) / v.std() if v.std() > NO_DRIFT else np.zeros_like(v) for v in out.values()]
    out["score"] = np.mean(z, axis=0)
    return out


def drift_test(score: np.ndarray, mask: NeuronMask, d_ff: int, permutations: int = PERMUTATIONS,
               seed: int = 0) -> dict[str, Any]:
    """The H-neurons' drift against random sets with the same per-layer counts and against all other neurons."""
    from scipy.stats import mannwhitneyu, rankdata

    flat = np.array([n.layer * d_ff + n.index for n in mask.neurons])
    h_mean = float(score[flat].mean())
    rng = np.random.default_rng(seed)
    counts = {layer: len(ns) for layer, ns in mask.by_layer().items()}
    means = np.empty(permutations)
    for k in range(permutations):
        picks = [layer * d_ff + rng.choice(d_ff, size=c, replace=False) for layer, c in counts.items()]
        means[k] = score[np.concatenate(picks)].mean()
    others = np.delete(score, flat)
    percentile = (rankdata(score)[flat] - 0.5) / len(score)
    return {
        "h_neurons": len(flat), "h_mean_drift": h_mean, "all_mean_drift": float(score.mean()),
        "h_mean_percentile": float(percentile.mean()), "h_median_percentile": float(np.median(percentile)),
        "random_sets": permutations, "random_mean_drift": float(means.mean()),
        "random_mean_drift_95": [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))],
        "p_more_than_random": float((1 + (means >= h_mean).sum()) / (permutations + 1)),
        "p_less_than_random": float((1 + (means <= h_mean).sum()) / (permutations + 1)),
        "p_more_than_others_mannwhitney": float(mannwhitneyu(score[flat], others, alternative="greater").pvalue),
        "seed": seed,
    }


def run_dir_of(probe: Path) -> Path:
    """The identification run a probe belongs to: the first ancestor of its folder holding run.json."""
    for folder in [probe, *probe.parents][:4]:
        if (folder / "run.json").is_file():
            return folder
    raise OriginError(f"--probe {probe}: no identification run (run.json) in its folder or the ones above it; "
                      "probe transfer scores that run's labelled test responses")


def transfer(base: nn.Module, base_tok: Any, tuned: nn.Module, tuned_tok: Any, probe_path: Path, tuned_name: str,
             batch_size: int = 8) -> dict[str, Any]:
    """The tuned probe on the base model's CETT of the tuned run's labelled test responses, and on the tuned model's."""
    from hneuron_eval.core.answer_span import SpanFinder
    from hneuron_eval.core.cett import CETTExtractor, FeatureRow
    from hneuron_eval.core.probe import HNeuronProbe
    from hneuron_eval.core.stats import auroc, auroc_ci
    from hneuron_eval.identify.jsonl import read_records
    from hneuron_eval.identify.prompt_ids import prompt_ids

    header_path = probe_path / "probe.json" if probe_path.is_dir() else probe_path.with_suffix(".json")
    if not header_path.is_file():
        raise OriginError(f"--probe {probe_path}: no probe.json")
    probe, header = HNeuronProbe.load(header_path)
    made_for = str(header.get("identity", {}).get("model") or "")
    if Path(made_for).name != Path(tuned_name).name:
        raise OriginError(f"--probe {header_path}: made for model {made_for!r}, not the tuned model {tuned_name!r}")
    layout = resolve_ffn(tuned)
    if probe.n_features_in_ != layout.num_neurons:
        raise OriginError(f"--probe {header_path}: n_features_in {probe.n_features_in_} != {layout.num_neurons} FFN "
                          f"neurons of {tuned_name!r}")
    run = run_dir_of(header_path.parent)
    split = json.loads((run / "splits.json").read_text(encoding="utf-8"))["test"]
    records = {r["id"]: r for r in read_records(run / "samples" / "test.jsonl")}
    ids = split["hallucinated"] + split["faithful"]
    labels = np.array([1] * len(split["hallucinated"]) + [0] * len(split["faithful"]))
    used = sorted({t for i in ids for t in records[i]["responses"][0]["ids"]})
    if base_tok.convert_ids_to_tokens(used) != tuned_tok.convert_ids_to_tokens(used):
        raise OriginError(f"the base and tuned tokenizers read the token ids of the responses in {run} differently: "
                          "the two checkpoints do not share a vocabulary")
    finder = SpanFinder(tuned_tok, "span")  # the answer span identification found
    rows: dict[str, list] = {"base": [], "tuned": []}
    for i in ids:
        rec = records[i]
        resp = rec["responses"][0]["ids"]
        start, end, _ = finder.find(resp)
        rows["base"].append(FeatureRow(i, prompt_ids(base_tok, rec["question"]), resp, (start, end)))
        rows["tuned"].append(FeatureRow(i, rec["prompt_ids"], resp, (start, end)))
    out: dict[str, Any] = {"run": str(run), "probe": str(header_path), "responses": len(ids),
                           "hallucinated": int(labels.sum()), "base_prompt": "few-shot Q:/A: (identify/prompt_ids.py)"}
    for side, model in (("base", base), ("tuned", tuned)):
        ext = CETTExtractor(model, padding_side="right", pad_id=base_tok.pad_token_id or 0)
        feats = np.concatenate([ext.extract(rows[side][k:k + batch_size])[0]
                                for k in range(0, len(ids), batch_size)])
        scores = probe.decision_function(feats)
        pos, neg = scores[labels == 1], scores[labels == 0]
        out[side] = {"auroc": auroc(pos, neg), "auroc_ci": list(auroc_ci(pos, neg))}
    return out
