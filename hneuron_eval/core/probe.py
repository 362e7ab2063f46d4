"""The H-neuron probe: an L1 logistic regression on CETT vectors whose positive weights are the H-neurons.

Input definition (stored with every saved probe): one row per response, the CETT value of each
FFN neuron averaged over the response's answer tokens, flattened layer-major
(index = layer * d_ff + neuron). Label 1 = hallucinated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from hneuron_eval.core.fileio import ArtifactMismatchError, atomic_path, check_identity, write_json_atomic

FORMAT = "hneuron-probe"
INPUT_DEFINITION = {
    "feature": "CETT = |z_j| * ||W_down[:, j]||_2 / ||W_down z||_2 at one token position",
    "tokens": "answer tokens of the response (see answer_rule)",
    "aggregation": "mean over those tokens",
    "layout": "flat index = layer * d_ff + neuron",
    "positive_class": "hallucinated",
}


class HNeuronProbe(ClassifierMixin, BaseEstimator):
    """Logistic regression on CETT vectors (optionally a subset of neurons), sklearn-style, saved without pickle."""

    def __init__(self, C: float = 1.0, penalty: str = "l1", features: np.ndarray | None = None,
                 standardize: bool = False, class_weight: str | None = None, max_iter: int = 1000,
                 tol: float = 1e-4, random_state: int = 0):
        self.C = C
        self.penalty = penalty
        self.features = features
        self.standardize = standardize
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _select(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"expected a 2-d feature matrix, got shape {X.shape}")
        if hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise ValueError(f"probe expects {self.n_features_in_} features (num_layers * d_ff), got {X.shape[1]}")
        return X[:, np.asarray(self.features)] if self.features is not None else X

    def fit(self, X: np.ndarray, y: np.ndarray) -> HNeuronProbe:
        from sklearn.linear_model import LogisticRegression

        penalty = penalty_kwargs(self.penalty)
        y = np.asarray(y).astype(int)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError(
                f"labels must contain both 0 (faithful) and 1 (hallucinated), got {sorted(set(y.tolist()))}"
            )
        self.n_features_in_ = np.asarray(X).shape[1]
        Xs = self._select(X).astype(np.float64)
        if self.standardize:
            self.mean_ = Xs.mean(axis=0)
            self.scale_ = np.where(Xs.std(axis=0) > 0, Xs.std(axis=0), 1.0)
            Xs = (Xs - self.mean_) / self.scale_
        lr = LogisticRegression(C=self.C, **penalty, solver="liblinear",
                                class_weight=self.class_weight, max_iter=self.max_iter, tol=self.tol,
                                random_state=self.random_state)
        lr.fit(Xs, y)
        self.coef_ = lr.coef_.ravel().astype(np.float64)
        self.intercept_ = float(lr.intercept_[0])
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        Xs = self._select(X).astype(np.float64)
        if self.standardize:
            Xs = (Xs - self.mean_) / self.scale_
        return Xs @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)

    def neuron_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(flat neuron indices, weights) of the non-zero coefficients, in the full layer-major index space."""
        idx = np.asarray(self.features) if self.features is not None else np.arange(len(self.coef_))
        nz = np.flatnonzero(self.coef_)
        return idx[nz], self.coef_[nz]

    def h_neurons(self, d_ff: int) -> list[tuple[int, int, float]]:
        """(layer, index, weight) of every neuron with a positive weight: the H-neurons."""
        idx, w = self.neuron_weights()
        return [(int(i) // d_ff, int(i) % d_ff, float(v)) for i, v in zip(idx, w) if v > 0]

    # ---- persistence: JSON header + safetensors arrays, no pickle ----
    def save(self, path: str | Path, identity: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
        """Write ``<path>.json`` and ``<path>.safetensors``; ``identity`` holds model, shape and run id."""
        from safetensors.numpy import save_file

        path = Path(path)
        arrays = {"coef": self.coef_}
        if self.features is not None:
            arrays["features"] = np.asarray(self.features, dtype=np.int64)
        if self.standardize:
            arrays.update(mean=self.mean_, scale=self.scale_)
        with atomic_path(path.with_suffix(".safetensors")) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
        params = {k: v for k, v in self.get_params().items() if k != "features"}
        write_json_atomic(path.with_suffix(".json"), {
            "format": FORMAT, "format_version": 1, "identity": identity, "params": params,
            "intercept": self.intercept_, "n_features_in": self.n_features_in_,
            "input_definition": INPUT_DEFINITION, **(extra or {}),
        })
        return path.with_suffix(".json")

    @classmethod
    def load(cls, path: str | Path, expected: dict[str, Any] | None = None) -> tuple[HNeuronProbe, dict[str, Any]]:
        """Read a saved probe (refusing another model/run when ``expected`` is given); returns (probe, header)."""
        from safetensors.numpy import load_file

        path = Path(path).with_suffix(".json")
        header = json.loads(path.read_text(encoding="utf-8"))
        if header.get("format") != FORMAT:
            raise ArtifactMismatchError(f"{path}: field 'format': expected {FORMAT!r}, got {header.get('format')!r}")
        if expected:
            check_identity(path, header["identity"], expected)
        arrays = load_file(str(path.with_suffix(".safetensors")))
        probe = cls(**header["params"], features=arrays.get("features"))
        probe.coef_ = arrays["coef"]
        probe.intercept_ = float(header["intercept"])
        probe.n_features_in_ = int(header["n_features_in"])
        probe.classes_ = np.array([0, 1])
        if probe.standardize:
            probe.mean_, probe.scale_ = arrays["mean"], arrays["scale"]
        return probe, header


def penalty_kwargs(penalty: str) -> dict[str, Any]:
    """The LogisticRegression arguments that select ``penalty`` in the installed scikit-learn.

    scikit-learn before 1.8 reads ``penalty`` and ignores ``l1_ratio``; 1.8 deprecates
    ``penalty`` and reads ``l1_ratio`` alone (1 = L1, 0 = L2). Leaving either one to its
    default would fit L2 on one side of that change.
    """
    import sklearn

    if penalty not in ("l1", "l2"):
        raise ValueError(f"penalty must be 'l1' or 'l2', got {penalty!r}")
    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return {"l1_ratio": 1.0 if penalty == "l1" else 0.0}
    return {"penalty": penalty}
