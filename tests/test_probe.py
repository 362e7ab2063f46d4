"""Probe: L1 selection finds planted neurons, save/load round trip, refusal of a foreign probe, modes, C grid."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from hneuron_eval.core.fileio import ArtifactMismatchError
from hneuron_eval.core.probe import HNeuronProbe, penalty_kwargs
from hneuron_eval.identify.evaluate import bootstrap_metrics, subset_probe
from hneuron_eval.identify.fitting import pick_c, sparsity_path, training_rows

IDENT = {"model": "tiny", "num_layers": 2, "d_ff": 50, "run_id": "abc"}


def planted(n=200, seed=0):
    """Hallucinated rows have larger CETT at flat neurons 7 and 63; neuron 20 is larger for faithful ones."""
    rng = np.random.default_rng(seed)
    y = np.repeat([1, 0], n // 2)
    ans = rng.random((n, 100)) * 0.1
    ans[:, 7] += 0.3 * y
    ans[:, 63] += 0.3 * y
    ans[:, 20] += 0.3 * (1 - y)
    oth = rng.random((n, 100)) * 0.1
    return ans.astype(np.float32), oth.astype(np.float32), y


def test_finds_planted_h_neurons_and_only_positive_weights():
    ans, oth, y = planted()
    X, yy = training_rows(ans, oth, y, "1-vs-1")
    probe = HNeuronProbe(C=1.0).fit(X, yy)
    hn = probe.h_neurons(d_ff=50)
    assert {(layer, i) for layer, i, _ in hn} == {(0, 7), (1, 13)}
    assert all(w > 0 for *_, w in hn)
    assert probe.coef_[20] < 0
    assert (probe.predict(ans) == y).mean() > 0.95


def test_l1_probe_is_sparse_and_l2_is_not():
    """The penalty is what the probe says, whatever scikit-learn's defaults (L2 would keep every neuron)."""
    ans, _, y = planted()
    l1 = HNeuronProbe(C=1.0, penalty="l1").fit(ans, y)
    l2 = HNeuronProbe(C=1.0, penalty="l2").fit(ans, y)
    assert (l1.coef_ == 0).sum() > 80  # of 100 neurons, almost all noise: zeroed
    assert (l2.coef_ != 0).all()
    with pytest.raises(ValueError, match="penalty must be 'l1' or 'l2'"):
        HNeuronProbe(penalty="elasticnet").fit(ans, y)


@pytest.mark.parametrize("version, expected", [("1.4.2", {"penalty": "l1"}), ("1.7.2", {"penalty": "l1"}),
                                               ("1.8.0", {"l1_ratio": 1.0}), ("1.10.0", {"l1_ratio": 1.0})])
def test_penalty_arguments_follow_the_installed_scikit_learn(monkeypatch, version, expected):
    import sklearn

    monkeypatch.setattr(sklearn, "__version__", version)
    assert penalty_kwargs("l1") == expected
    assert penalty_kwargs("l2") == {k: ("l2" if k == "penalty" else 0.0) for k in expected}


def test_3_vs_1_rows():
    ans, oth, y = planted(10)
    X, yy = training_rows(ans, oth, y, "3-vs-1")
    assert X.shape == (20, 100) and yy.sum() == 5 and (yy[10:] == 0).all()
    with pytest.raises(ValueError, match="contrast"):
        training_rows(ans, oth, y, "2-vs-2")


def safetensors_tensors(path):
    """Parse a safetensors file by its spec: u64 header length, JSON header, then only the declared tensor bytes."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    spans = sorted(tuple(t["data_offsets"]) for t in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n  # the tensors fill the rest of the file exactly
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    return {name: t["dtype"] for name, t in header.items()}


def test_save_load_round_trip_equals_predictions_without_pickle(tmp_path, monkeypatch):
    ans, oth, y = planted()
    probes = (HNeuronProbe(C=0.5).fit(ans, y), subset_probe(np.array([3, 7, 63, 90]), ans, oth, y, "3-vs-1"))
    arrays = ({"coef": "F64"}, {"coef": "F64", "features": "I64", "mean": "F64", "scale": "F64"})

    def no_unpickling(*args, **kwargs):
        raise AssertionError("loading a probe tried to unpickle something")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_unpickling)
    for probe, expected in zip(probes, arrays):
        path = probe.save(tmp_path / "p", IDENT, {"contrast": "1-vs-1"})
        assert safetensors_tensors(tmp_path / "p.safetensors") == expected  # numbers only, nothing else in the file
        json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))  # the header is plain JSON
        loaded, header = HNeuronProbe.load(path, IDENT)
        np.testing.assert_array_equal(loaded.predict_proba(ans), probe.predict_proba(ans))
        assert header["input_definition"]["tokens"].startswith("answer tokens")
        assert loaded.get_params()["C"] == probe.C
    with pytest.raises(ArtifactMismatchError, match=r"made for model 'tiny'.*this run uses model 'other'"):
        HNeuronProbe.load(tmp_path / "p", {**IDENT, "model": "other"})


def test_wrong_width_refused():
    ans, _, y = planted()
    probe = HNeuronProbe().fit(ans, y)
    with pytest.raises(ValueError, match="expects 100 features"):
        probe.predict(ans[:, :50])


def test_sparsity_path_reports_neurons_and_cv_scores_per_c():
    ans, oth, y = planted()
    groups = [f"q{i}" for i in range(len(y))]
    path = sparsity_path(ans, oth, y, groups, [0.01, 0.3, 10.0], "3-vs-1", folds=5)
    counts = [g["n_nonzero"] for g in path]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    for g in path:
        assert len(g["fold_auroc"]) == 5 and g["cv_auroc"] == pytest.approx(np.mean(g["fold_auroc"]))
        assert g["cv_auroc_se"] == pytest.approx(np.std(g["fold_auroc"], ddof=1) / np.sqrt(5))
    assert path[0]["n_h_neurons"] == 0 and path[-1]["cv_auroc"] > 0.8  # the planted neurons are found
    assert pick_c(path, "best") in (0.3, 10.0)


def test_folds_keep_a_questions_responses_together():
    from sklearn.model_selection import StratifiedGroupKFold

    ans, oth, y = planted()
    groups = np.repeat([f"q{i}" for i in range(len(y) // 2)], 2)  # two responses per question
    for fit_idx, val_idx in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(ans, y, groups):
        assert not set(groups[fit_idx]) & set(groups[val_idx])
    path = sparsity_path(ans, oth, y, groups, [1.0], "3-vs-1", folds=5)
    assert path[0]["folds"] == 5
    with pytest.raises(ValueError, match="folds=500 with 100 responses in the smaller class"):
        sparsity_path(ans, oth, y, groups, [1.0], "3-vs-1", folds=500)


def test_one_se_rule_takes_the_sparsest_c_within_one_standard_error():
    def row(C, auc, se, kept):
        return {"C": C, "cv_auroc": auc, "cv_auroc_se": se, "cv_accuracy": auc, "n_h_neurons": kept}

    path = [row(0.1, 0.95, 0.01, 0), row(1, 0.80, 0.02, 3), row(3, 0.875, 0.02, 11), row(10, 0.88, 0.02, 40),
            row(300, 0.89, 0.02, 536)]
    assert pick_c(path, "1se") == 3  # 0.875 >= 0.89 - 0.02; C=0.1 keeps no H-neuron, so it is not eligible
    assert pick_c(path, "best") == 300
    with pytest.raises(ValueError, match="needs the task accuracy"):
        pick_c(path, "suppression")
    for r, acc in zip(path, (0.1, 0.2, 0.9, 0.5, 0.1)):
        r["suppressed_task_accuracy"] = acc
    assert pick_c(path, "suppression") == 3
    with pytest.raises(ValueError, match="C rule must be one of"):
        pick_c(path, "lasso")


def test_bootstrap_ci_contains_point_estimate():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    scores = y + rng.normal(0, 1, 200) - 0.5
    m = bootstrap_metrics(y, scores, n_boot=300)
    assert m["accuracy_ci95"][0] <= m["accuracy"] <= m["accuracy_ci95"][1]
    assert 0.7 < m["auroc"] < 0.9 and m["auroc_ci95"][0] < m["auroc"] < m["auroc_ci95"][1]
