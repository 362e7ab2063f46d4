"""Stage 3's choices: the training rows of a contrast, and C chosen by cross-validation on a sparsity path."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hneuron_eval.core.probe import HNeuronProbe

#: 3-vs-1: hallucinated answer tokens against faithful answer tokens and every response's other tokens
CONTRASTS = ("3-vs-1", "1-vs-1")
#: how C is picked from the path (stated before any test number is read; ``C_RULES[rule]`` says it in words)
C_RULES = {
    "1se": "the smallest C (strongest L1 penalty, fewest neurons) whose mean cross-validated AUROC is within one "
           "standard error of the best mean; a C whose fit on all training responses keeps no H-neuron is not "
           "eligible",
    "best": "the C with the best mean cross-validated AUROC (ties: the smaller C)",
    "suppression": "the paper's criterion: the best mean cross-validated accuracy plus the task accuracy with the "
                   "C's H-neurons ablated (needs --suppress-questions)",
}


def training_rows(
    answer: np.ndarray, other: np.ndarray, labels: np.ndarray, contrast: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and labels for a contrast: 3-vs-1 = hallucinated answer tokens vs faithful answer + all other-token rows."""
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    labels = np.asarray(labels).astype(int)
    if contrast == "1-vs-1":
        return np.asarray(answer), labels
    X = np.concatenate([np.asarray(answer), np.asarray(other)])
    y = np.concatenate([labels, np.zeros(len(labels), dtype=int)])
    return X, y


def sparsity_path(answer: np.ndarray, other: np.ndarray, labels: np.ndarray, groups: list[str] | np.ndarray,
                  grid: list[float], contrast: str, folds: int = 5, seed: int = 0,
                  class_weight: str | None = None) -> list[dict[str, Any]]:
    """Per C: neurons kept by the fit on all responses, and k-fold CV accuracy and AUROC with standard errors.

    Folds are stratified by label and grouped by question (``groups``), so no question's responses
    sit on both sides; a response's answer and other-token rows go with it. Each fold fits on the
    contrast's rows of its training responses and scores the held-out responses' answer rows
    (faithful against hallucinated). Standard error: the folds' standard deviation / sqrt(k).
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(int)
    splits = _folds(labels, np.asarray(groups), folds, seed)
    results = []
    for C in grid:
        acc, auc, kept = [], [], []
        for fit_idx, val_idx in splits:
            X, y = training_rows(answer[fit_idx], other[fit_idx], labels[fit_idx], contrast)
            probe = HNeuronProbe(C=C, class_weight=class_weight).fit(X, y)
            scores = probe.decision_function(answer[val_idx])
            acc.append(float(((scores > 0).astype(int) == labels[val_idx]).mean()))
            auc.append(float(roc_auc_score(labels[val_idx], scores)))
            kept.append(int((probe.coef_ != 0).sum()))
        X, y = training_rows(answer, other, labels, contrast)
        full = HNeuronProbe(C=C, class_weight=class_weight).fit(X, y)
        results.append({
            "C": C,
            "n_h_neurons": int((full.coef_ > 0).sum()),
            "n_nonzero": int((full.coef_ != 0).sum()),
            "cv_accuracy": float(np.mean(acc)), "cv_accuracy_se": _se(acc),
            "cv_auroc": float(np.mean(auc)), "cv_auroc_se": _se(auc),
            "fold_accuracy": acc, "fold_auroc": auc, "fold_nonzero": kept,
            "folds": folds, "n_responses": int(len(labels)),
            "h_neuron_index": [int(i) for i in np.flatnonzero(full.coef_ > 0)],
        })
    return results


def _folds(labels: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds grouped by question: no question's responses on both sides."""
    from sklearn.model_selection import StratifiedGroupKFold

    per_class = min(np.bincount(labels, minlength=2))
    if folds < 2 or per_class < folds:
        raise ValueError(f"cross-validation needs 2 <= folds <= responses per class; got folds={folds} with "
                         f"{per_class} responses in the smaller class")
    return list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(labels, labels, groups))


def residual_probe(answer: np.ndarray, labels: np.ndarray, groups: list[str] | np.ndarray, num_layers: int,
                   d_model: int, folds: int = 5, seed: int = 0) -> tuple[HNeuronProbe, list[dict[str, Any]]]:
    """The dense residual-stream baseline: an L2 probe on one layer's answer-averaged hidden state.

    The layer is the one with the best mean cross-validated AUROC (same folds as the sparsity
    path; ties: the earlier layer); the probe is then fitted on all training answers (faithful
    against hallucinated). Returns the probe (reading that layer's columns of the layer-major
    features) and the per-layer CV scores.
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(int)
    splits = _folds(labels, np.asarray(groups), folds, seed)
    per_layer = []
    for layer in range(num_layers):
        cols = np.arange(layer * d_model, (layer + 1) * d_model)
        aucs = []
        for fit_idx, val_idx in splits:
            probe = HNeuronProbe(C=1.0, penalty="l2", features=cols, standardize=True)
            probe.fit(answer[fit_idx], labels[fit_idx])
            aucs.append(float(roc_auc_score(labels[val_idx], probe.decision_function(answer[val_idx]))))
        per_layer.append({"layer": layer, "cv_auroc": float(np.mean(aucs)), "cv_auroc_se": _se(aucs),
                          "fold_auroc": aucs})
    best = max(per_layer, key=lambda r: (r["cv_auroc"], -r["layer"]))["layer"]
    cols = np.arange(best * d_model, (best + 1) * d_model)
    return HNeuronProbe(C=1.0, penalty="l2", features=cols, standardize=True).fit(answer, labels), per_layer


def _se(values: list[float]) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def pick_c(path: list[dict[str, Any]], rule: str = "1se") -> float:
    """The C that ``rule`` (a key of ``C_RULES``) picks from a sparsity path."""
    if rule not in C_RULES:
        raise ValueError(f"C rule must be one of {sorted(C_RULES)}, got {rule!r}")
    usable = [r for r in path if r["n_h_neurons"] > 0] or path
    if rule == "suppression":
        if any(r.get("suppressed_task_accuracy") is None for r in usable):
            raise ValueError("C rule 'suppression' needs the task accuracy with H-neurons ablated "
                             "(--suppress-questions N)")
        return max(usable, key=lambda r: (r["cv_accuracy"] + r["suppressed_task_accuracy"], -r["C"]))["C"]
    best = max(usable, key=lambda r: (r["cv_auroc"], -r["C"]))
    if rule == "best":
        return best["C"]
    floor = best["cv_auroc"] - (best["cv_auroc_se"] if math.isfinite(best["cv_auroc_se"]) else 0.0)
    return min(r["C"] for r in usable if r["cv_auroc"] >= floor)
