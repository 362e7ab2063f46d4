"""The learned judge: a linear classifier per task side, distilled from blind labels, over inspectable features.

Each group of task sides that share their classes (``group_of``) has a multinomial logistic
regression over :mod:`.features`, its C, class weighting and named-feature weight chosen by
question-grouped cross-validation. Degenerate text looks alike whatever the task, so for each class
of ``POOLED`` (by default) one pooled model, fitted on the rows of every group that has the class,
scores "this class or not"; its score (out of fold while fitting) is one more named feature of
every group's model, and a group may let a high pooled score decide outright (its ``override``:
the margin above which that class is called, chosen by CV like the kept rule classes). A group
where the rules agree with the held-out folds at least as often keeps the rules, and within a
model's group a class the rules call precisely (precision >= ``KEEP_RULES_PRECISION`` on the
labels) stays the rules' call wherever that does not lose held-out agreement. The judge is saved as
``judge.json`` (classes, feature names, vocabularies, what each group uses, how it was chosen) and
``judge.npz`` (weights, intercepts, feature scaling): no pickle. ``explain`` lists the features
that decided one response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from hneuron_eval.core.fileio import atomic_path, write_json_atomic
from hneuron_eval.errors import HNeuronError
from hneuron_eval.judges.features import FEATURE_VERSION, NGRAMS, dense, ngram_text
from hneuron_eval.judges.labels import Labelled, classes_for, gold_of
from hneuron_eval.judges.rules import RULE
from hneuron_eval.judges.states import PREFIX as STATE_PREFIX
from hneuron_eval.judges.states import StateSpec, StateSpecError, ensure_available, reader_for, state_features
from hneuron_eval.suite.kinds import get_kind

BUNDLED = Path(__file__).with_name("learned")  # the judge the package ships (judge.json + judge.npz)
FORMAT = "hneuron-eval learned judge 4"  # 2: with the pooled models; 3: the pooled overrides; 4: model states
READABLE = (FORMAT, "hneuron-eval learned judge 3", "hneuron-eval learned judge 2")  # older files lack the newer parts
POOLED = ("degenerate",)  # classes one model each reads across all tasks (feature "pooled:<class>"); a pooled
# "declined" lost 5 rows on round 4's test read as a development set (results/judges/README.md, round 5, item 6)
KEEP_RULES_PRECISION = 0.9  # a rule class this precise on a group's labels may keep the rules' call
OVERRIDE_MARGINS = (0.0, 0.5, 1.0, 1.5, 2.0)  # pooled margins tried as a group's override threshold


class JudgeFileError(HNeuronError, ValueError):
    """A learned-judge folder is missing, corrupt or made for other features; the message names the file."""


def group_of(kind: str, side: str) -> str:
    """Task sides that share their classes share a model: FalseQA's two sides do not."""
    return f"{kind}/{side}" if kind == "falseqa" else kind


def rule_class(kind: str, doc: dict, text: str) -> str:
    """The rule judge's class of one response under its kind."""
    return get_kind(kind).classify(RULE, doc, text)


@dataclass
class GroupModel:
    """A fitted linear model of one group: scaled named features and binary n-grams -> class scores."""

    classes: list[str]
    dense_names: list[str]
    vocab: dict[str, list[str]]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray
    keep_rules: tuple[str, ...] = ()  # rule classes whose call stands (chosen by CV)
    override: dict[str, float] = field(default_factory=dict)  # pooled class -> margin above which it is called
    states: bool = False  # whether its named features include the response's model state (``states.py``)

    def _vectorizers(self) -> dict[str, Any]:
        from sklearn.feature_extraction.text import CountVectorizer

        if not hasattr(self, "_vec"):
            self._vec = {
                name: CountVectorizer(vocabulary=self.vocab[name], binary=True, lowercase=False, **NGRAMS[name])
                for name in NGRAMS if self.vocab.get(name)
            }
        return self._vec

    def names(self) -> list[str]:
        return self.dense_names + [f"{n}:{t}" for n in NGRAMS for t in self.vocab.get(n, [])]

    def matrix(self, dense_rows: list[dict[str, float]], texts: list[str]) -> sparse.csr_matrix:
        values = np.array([[row[n] for n in self.dense_names] for row in dense_rows], dtype=np.float64)
        blocks = [sparse.csr_matrix((values - self.mean) / self.scale)]
        blocks += [vec.transform(texts) for vec in self._vectorizers().values()]
        return sparse.hstack(blocks, format="csr")

    def scores(self, x: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(x @ self.coef.T) + self.intercept


def features_of(kind: str, doc: dict, text: str, ruled: str | None = None) -> tuple[dict[str, float], str]:
    """(named dense features, n-gram text) of one response (``ruled``: its rule class, when already known)."""
    side = doc["label"]
    ruled = rule_class(kind, doc, text) if ruled is None else ruled
    feats = dense(kind, doc, text, gold_of(kind, doc), ruled, classes_for(kind, side),
                  get_kind(kind).sides if kind != "falseqa" else (side,))
    return feats, ngram_text(text)


def pooled_dense(feats: dict[str, float]) -> dict[str, float]:
    """The named features every task shares (the rules' decisions and the statistics): the pooled model's input."""
    return {n: v for n, v in feats.items() if n.startswith(("rule:", "stat:"))}


def pooled_key(cls: str) -> str:
    """A pooled model's key in judge.npz: never a task group's (those have no leading '_')."""
    return f"_pooled/{cls}"


def pooled_scores(model: GroupModel, feats: Sequence[Features]) -> np.ndarray:
    """A pooled model's margin for its class (its score minus the other's), one per response."""
    scores = model.scores(model.matrix([pooled_dense(f) for f, _ in feats], [t for _, t in feats]))
    mine = next(i for i, c in enumerate(model.classes) if c != "other")
    return scores[:, mine] - scores[:, 1 - mine]


class LearnedJudge:
    """Classes a response per task side with its group's linear model, or with the rules where they did better."""

    name = "learned"

    def __init__(self, groups: dict[str, GroupModel | None], info: dict[str, Any], version: str,
                 pooled: dict[str, GroupModel] | None = None, states: StateSpec | None = None):
        self.groups, self.info, self.version, self.pooled = groups, info, version, pooled or {}
        self.states = states

    def _features(self, kind: str, doc: dict, text: str, ruled: str) -> Features:
        feats, ngrams = features_of(kind, doc, text, ruled)
        shared = pooled_dense(feats)
        for cls, model in self.pooled.items():
            feats[f"pooled:{cls}"] = float(pooled_scores(model, [(shared, ngrams)])[0])
        return feats, ngrams

    def _with_states(self, feats: dict[str, float], model: GroupModel, doc: dict, text: str) -> dict[str, float]:
        """The features with the response's state added where the group reads it: read only once no override
        has decided, as the state costs a forward pass."""
        return {**feats, **state_features(self.states, doc["question"], text)} if model.states else feats

    def classify_response(self, kind: str, doc: dict, text: str) -> str:
        """The class of one response (``doc`` as lm-eval hands it to the task)."""
        model = self._model(kind, doc)
        ruled = rule_class(kind, doc, text)
        if model is None or ruled in model.keep_rules:
            return ruled
        feats, ngrams = self._features(kind, doc, text, ruled)
        for cls, margin in model.override.items():
            if feats[f"pooled:{cls}"] > margin:
                return cls
        feats = self._with_states(feats, model, doc, text)
        return model.classes[int(np.argmax(model.scores(model.matrix([feats], [ngrams]))[0]))]

    def _model(self, kind: str, doc: dict) -> GroupModel | None:
        group = group_of(kind, doc["label"])
        if group not in self.groups:
            raise JudgeFileError(f"learned judge {self.version} has no model for {group!r}")
        return self.groups[group]

    def explain(self, kind: str, doc: dict, text: str, top: int = 8) -> dict[str, Any]:
        """The class, each class's score, and the features that pushed the chosen class up or down most."""
        model = self._model(kind, doc)
        if model is None:
            return {"class": rule_class(kind, doc, text), "decided_by": "rules (better on dev for this group)"}
        ruled = rule_class(kind, doc, text)
        if ruled in model.keep_rules:
            return {"class": ruled, "decided_by": f"rules (their {ruled!r} is kept for this group)"}
        feats, ngrams = self._features(kind, doc, text, ruled)
        for cls, margin in model.override.items():
            if feats[f"pooled:{cls}"] > margin:
                return {"class": cls, "pooled_margin": round(feats[f"pooled:{cls}"], 4),
                        "decided_by": f"pooled {cls!r} model (margin above this group's override {margin})"}
        x = model.matrix([self._with_states(feats, model, doc, text)], [ngrams])
        scores = model.scores(x)[0]
        best = int(np.argmax(scores))
        row = x.toarray()[0]
        # what separates the chosen class from the runner-up
        runner = int(np.argsort(scores)[-2]) if len(scores) > 1 else best
        margin = row * (model.coef[best] - model.coef[runner])
        names = model.names()
        if model.states:  # the state's dimensions mean nothing one by one: their pushes are summed
            lm = np.array([n.startswith(STATE_PREFIX) for n in names])
            names = [n for n, s in zip(names, lm) if not s] + [f"{STATE_PREFIX}{self.states.model}@{self.states.layer}"]
            row = np.append(row[~lm], np.linalg.norm(row[lm]))
            margin = np.append(margin[~lm], margin[lm].sum())
        order = np.argsort(-np.abs(margin))[:top]
        return {
            "class": model.classes[best],
            "scores": {c: round(float(s), 4) for c, s in zip(model.classes, scores)},
            "runner_up": model.classes[runner],
            "features": [{"feature": names[i], "value": round(float(row[i]), 4), "push": round(float(margin[i]), 4)}
                         for i in order if margin[i] != 0],
            "decided_by": "model",
        }

    def save(self, folder: str | Path) -> None:
        """Write ``judge.json`` and ``judge.npz`` (each atomically)."""
        folder = Path(folder)
        arrays, header = {}, {"format": FORMAT, "feature_version": FEATURE_VERSION, "info": self.info, "groups": {}}
        header["pooled"] = {cls: {"classes": m.classes, "dense": m.dense_names, "vocab": m.vocab}
                            for cls, m in self.pooled.items()}
        if self.states is not None:
            header["states"] = self.states.to_json()
        for cls, model in self.pooled.items():
            for part in ("mean", "scale", "coef", "intercept"):
                arrays[f"{pooled_key(cls)}::{part}"] = getattr(model, part)
        for group, model in self.groups.items():
            if model is None:
                header["groups"][group] = {"use": "rules"}
                continue
            header["groups"][group] = {"use": "model", "classes": model.classes, "dense": model.dense_names,
                                       "vocab": model.vocab, "keep_rules": list(model.keep_rules),
                                       "override": model.override, "states": model.states}
            for part in ("mean", "scale", "coef", "intercept"):
                arrays[f"{group}::{part}"] = getattr(model, part)
        write_json_atomic(folder / "judge.json", header)
        with atomic_path(folder / "judge.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    @classmethod
    def load(cls, folder: str | Path = BUNDLED) -> LearnedJudge:
        """A saved judge; a missing or corrupt file, or one made for other features, is refused naming the file."""
        folder = Path(folder)
        head, weights = folder / "judge.json", folder / "judge.npz"
        try:
            header = json.loads(head.read_text(encoding="utf-8"))
            blob = weights.read_bytes()
        except FileNotFoundError as exc:
            raise JudgeFileError(f"{exc.filename}: no such file (a learned judge is judge.json + judge.npz)") from None
        except ValueError as exc:
            raise JudgeFileError(f"{head}: not JSON ({exc})") from None
        if not isinstance(header, dict) or header.get("format") not in READABLE:
            raise JudgeFileError(f"{head}: not a learned judge file of this package (format {header.get('format')!r}, "
                                 f"expected {FORMAT!r})" if isinstance(header, dict) else f"{head}: not a judge file")
        if header.get("feature_version") != FEATURE_VERSION:
            raise JudgeFileError(f"{head}: made for features {header.get('feature_version')!r}, this package computes "
                                 f"{FEATURE_VERSION!r}; re-train the judge (scripts/judges/train.py)")
        try:
            with np.load(weights, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError) as exc:
            raise JudgeFileError(f"{weights}: not a readable .npz ({exc})") from None

        try:
            states = StateSpec.from_json(header["states"], str(head)) if "states" in header else None
        except StateSpecError as exc:
            raise JudgeFileError(str(exc)) from None

        def model_of(group: str, spec: dict) -> GroupModel:
            try:
                parts = {p: arrays[f"{group}::{p}"] for p in ("mean", "scale", "coef", "intercept")}
            except KeyError as exc:
                raise JudgeFileError(f"{weights}: no array {exc.args[0]!r}") from None
            model = GroupModel(spec["classes"], spec["dense"], spec["vocab"], **parts,
                               keep_rules=tuple(spec.get("keep_rules", ())), override=dict(spec.get("override", {})),
                               states=bool(spec.get("states", False)))
            read = [n for n in model.dense_names if n.startswith(STATE_PREFIX)]
            if model.states != bool(read) or (read and (states is None or read != states.names())):
                raise JudgeFileError(f"{head}: group {group!r} (states: {model.states}) has {len(read)} state "
                                     f"features; the file's 'states' spec is {header.get('states')!r}")
            if model.coef.shape != (len(model.classes), len(model.names())):
                raise JudgeFileError(f"{weights}: {group} weights have shape {model.coef.shape}, "
                                     f"expected {(len(model.classes), len(model.names()))}")
            return model

        groups = {group: None if spec["use"] == "rules" else model_of(group, spec)
                  for group, spec in header["groups"].items()}
        pooled = {cls: model_of(pooled_key(cls), spec) for cls, spec in header.get("pooled", {}).items()}
        read = {n for m in groups.values() if m is not None for n in m.dense_names if n.startswith("pooled:")}
        read |= {f"pooled:{c}" for m in groups.values() if m is not None for c in m.override}
        if read - {f"pooled:{c}" for c in pooled}:
            raise JudgeFileError(f"{head}: its models read {sorted(read)} but the file has pooled models for "
                                 f"{sorted(pooled)} only")
        if states is not None:
            try:
                ensure_available(states)
            except StateSpecError as exc:
                raise JudgeFileError(f"{head}: {exc}") from None
        digest = hashlib.sha256(head.read_bytes() + blob).hexdigest()[:10]
        return cls(groups, header.get("info", {}), f"learned-1.{digest}", pooled, states)


Features = tuple[dict[str, float], str]


def _fit_group(feats: Sequence[Features], labels: Sequence[str], C: float, class_weight: str | None, min_df: int,
               seed: int, dense_weight: float = 1.0) -> GroupModel:
    """One group's model fitted on precomputed features: scaling, n-gram vocabularies, logistic regression.

    ``dense_weight`` multiplies the standardised named features (folded into ``scale``): under one L2
    penalty, the few named features then pay less than the thousands of n-grams they compete with."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    dense_names = list(feats[0][0])
    values = np.array([[f[n] for n in dense_names] for f, _ in feats])
    mean, scale = values.mean(axis=0), values.std(axis=0)
    scale[scale == 0] = 1.0
    scale = scale / dense_weight
    vocab = {}
    for name, params in NGRAMS.items():
        vec = CountVectorizer(binary=True, lowercase=False, min_df=min_df, **params)
        try:
            vec.fit([t for _, t in feats])
        except ValueError:  # no n-gram reaches min_df
            continue
        vocab[name] = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
    classes = sorted(set(labels))
    model = GroupModel(classes, dense_names, vocab, mean, scale, np.zeros((len(classes), 1)), np.zeros(len(classes)))
    x = model.matrix([f for f, _ in feats], [t for _, t in feats])
    if len(classes) == 1:
        model.coef, model.intercept = np.zeros((1, x.shape[1])), np.zeros(1)
        return model
    clf = LogisticRegression(C=C, class_weight=class_weight, max_iter=5000, random_state=seed)
    clf.fit(x, np.array(labels))
    coef, intercept = clf.coef_, clf.intercept_
    if len(classes) == 2:  # sklearn keeps one row for two classes: score(c1) - score(c0)
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    model.coef, model.intercept = coef, intercept
    return model


def _predict(model: GroupModel, feats: Sequence[Features]) -> list[str]:
    scores = model.scores(model.matrix([f for f, _ in feats], [t for _, t in feats]))
    return [model.classes[i] for i in np.argmax(scores, axis=1)]


def _fit_pooled(cls: str, rows: Sequence[Labelled], feats: dict[int, Features], Cs: Sequence[float], folds: int,
                min_df: int, seed: int) -> tuple[GroupModel | None, dict[int, float], dict[str, Any]]:
    """The pooled model of ``cls``, fitted on the rows whose task side has that class (its C chosen by
    question-grouped CV log-loss), and every row's score: out of fold for those rows, the fitted model's for the
    rest. None where those rows hold one label only or too few questions to fold."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import GroupKFold

    mine = [r for r in rows if cls in classes_for(r.kind, r.side)]
    labels = np.array([cls if r.label == cls else "other" for r in mine], dtype=object)
    questions = [f"{r.task}\0{r.doc['question']}" for r in mine]
    if len(set(labels)) < 2 or len(set(questions)) < folds:
        return None, {}, {"rows": len(mine), "use": "none (one label or too few questions)"}
    shared = [(pooled_dense(feats[id(r)][0]), feats[id(r)][1]) for r in mine]
    oof = {C: np.zeros(len(mine)) for C in Cs}
    for train_idx, test_idx in GroupKFold(folds).split(mine, labels, questions):
        for C in Cs:
            model = _fit_group([shared[i] for i in train_idx], list(labels[train_idx]), C, "balanced", min_df, seed)
            oof[C][test_idx] = pooled_scores(model, [shared[i] for i in test_idx])
    truth = labels == cls
    loss = {C: float(log_loss(truth, 1 / (1 + np.exp(-oof[C])), labels=[False, True])) for C in Cs}
    best = min(Cs, key=lambda C: (loss[C], C))
    model = _fit_group(shared, list(labels), best, "balanced", min_df, seed)
    scores = {id(r): float(v) for r, v in zip(mine, oof[best])}
    rest = [r for r in rows if id(r) not in scores]
    if rest:
        scores.update(zip(map(id, rest), map(float, pooled_scores(model, [feats[id(r)] for r in rest]))))
    info = {"rows": len(mine), "positives": int(truth.sum()), "C": best,
            "cv_log_loss": {str(C): round(v, 4) for C, v in loss.items()}}
    return model, scores, info


def fit_judge(rows: Sequence[Labelled], extra: Sequence[Labelled] = (), Cs: Sequence[float] = (0.03, 0.1, 0.3),
              class_weights: Sequence[str | None] = ("balanced", None), dense_weights: Sequence[float] = (1.0, 4.0),
              folds: int = 5, min_df: int = 3, seed: int = 0, pooled_classes: Sequence[str] = POOLED,
              override_margins: Sequence[float] = OVERRIDE_MARGINS, states: StateSpec | None = None,
              state_groups: Sequence[str] = ()) -> LearnedJudge:
    """The pooled models (one per class of ``pooled_classes``) first, their out-of-fold scores becoming
    features; then per group: choose C, the class weighting and the named features' weight by question-grouped
    k-fold CV on ``rows`` (``extra`` rows only ever train), then the rule classes whose call stands; keep the
    rules where they agree with the held-out folds at least as often; refit on everything. The override margin
    of each pooled class (one of ``override_margins``, or none) is chosen on the same held-out folds, after the
    kept rule classes. The groups of ``state_groups`` also read each response's ``states`` (``states.py``)."""
    from sklearn.model_selection import GroupKFold

    sides = {(r.kind, r.side) for r in [*rows, *extra]}
    unknown = set(state_groups) - {group_of(kind, side) for kind, side in sides}
    if unknown or (state_groups and states is None):
        raise ValueError(f"state groups {sorted(unknown)}: no labels of these groups" if unknown
                         else "state groups given without a state spec")
    for cls in pooled_classes:  # refused before any feature is computed
        if sides and not any(cls in classes_for(kind, side) for kind, side in sides):
            raise ValueError(f"pooled class {cls!r}: no task side of these labels has it")
    feats = {id(r): features_of(r.kind, r.doc, r.response) for r in [*rows, *extra]}
    with_states = [r for r in [*rows, *extra] if group_of(r.kind, r.side) in state_groups]
    if with_states:  # only a group's own model reads them: the pooled models keep to rule: and stat: features
        read = reader_for(states).read_many([(r.doc["question"], r.response) for r in with_states], progress=True)
        for r, state in zip(with_states, read):
            feats[id(r)][0].update(zip(states.names(), map(float, state)))
    pooled, pooled_info = {}, {}
    for cls in pooled_classes:  # every score is computed before any is added: a pooled model never reads another's
        model, scores, pooled_info[cls] = _fit_pooled(cls, [*rows, *extra], feats, Cs, folds, min_df, seed)
        if model is not None:
            pooled[cls] = (model, scores)
    for cls, (_, scores) in pooled.items():
        for key, value in scores.items():
            feats[key][0][f"pooled:{cls}"] = value
    info: dict[str, Any] = {"rows": len(rows), "extra_train_rows": len(extra), "folds": folds, "Cs": list(Cs),
                            "class_weights": list(class_weights), "dense_weights": list(dense_weights),
                            "min_df": min_df, "pooled": pooled_info, "override_margins": list(override_margins),
                            "states": ({"spec": states.to_json(), "groups": sorted(state_groups)}
                                       if with_states else None),
                            "groups": {}}
    grid = [(C, w, d) for C in Cs for w in class_weights for d in dense_weights]
    groups: dict[str, GroupModel | None] = {}
    for group in sorted({group_of(r.kind, r.side) for r in [*rows, *extra]}):
        mine = [r for r in rows if group_of(r.kind, r.side) == group]
        more = [r for r in extra if group_of(r.kind, r.side) == group]
        labels = np.array([r.label for r in mine])
        questions = [r.doc["question"] for r in mine]
        hits: dict[tuple, int] = {}
        said_cv: dict[tuple, np.ndarray] = {k: np.empty(len(mine), dtype=object) for k in grid}
        ruled = np.array([rule_class(r.kind, r.doc, r.response) for r in mine], dtype=object)
        rule_hits = int(np.sum(ruled == labels))
        n_folds = min(folds, len(set(questions)))
        if n_folds >= 2:
            for train_idx, test_idx in GroupKFold(n_folds).split(mine, labels, questions):
                held = {questions[i] for i in test_idx}
                train = [mine[i] for i in train_idx] + [r for r in more if r.doc["question"] not in held]
                for C, weight, dw in grid:
                    if len({r.label for r in train}) < 2:
                        said = [train[0].label] * len(test_idx)
                    else:
                        model = _fit_group([feats[id(r)] for r in train], [r.label for r in train], C, weight,
                                           min_df, seed, dw)
                        said = _predict(model, [feats[id(mine[i])] for i in test_idx])
                    hit = int(np.sum(np.array(said) == labels[test_idx]))
                    hits[(C, weight, dw)] = hits.get((C, weight, dw), 0) + hit
                    said_cv[(C, weight, dw)][test_idx] = said
        # ties: the stronger penalty, then the plainer weighting
        best = max(hits, key=lambda k: (hits[k], -k[0], -k[2])) if hits else None
        keep, kept_info, override, override_gains = [], {}, {}, {}
        if best is not None:
            said = said_cv[best]
            for cls in sorted(set(ruled)):
                mask = ruled == cls
                precision = float(np.mean(labels[mask] == cls))
                tried = np.where(mask, cls, said)
                gain = int(np.sum(tried == labels)) - int(np.sum(said == labels))
                kept_info[cls] = {"rows": int(mask.sum()), "rule_precision": round(precision, 4), "cv_hit_gain": gain}
                if precision >= KEEP_RULES_PRECISION and gain >= 0:
                    keep.append(cls)
                    said = tried
            kept = np.isin(ruled, keep)
            for cls in pooled:
                if cls not in set(labels):
                    continue
                margins = np.array([feats[id(r)][0][f"pooled:{cls}"] for r in mine])
                gains = {t: int(np.sum(np.where(~kept & (margins > t), cls, said) == labels))
                         - int(np.sum(said == labels)) for t in override_margins}
                override_gains[cls] = {str(t): g for t, g in gains.items()}
                t = max(gains, key=lambda t: (gains[t], t)) if gains else None  # ties: the more cautious margin
                if t is not None and gains[t] > 0:
                    override[cls] = t
                    said = np.where(~kept & (margins > t), cls, said)
            model_hits = int(np.sum(said == labels))
        use_model = best is not None and model_hits > rule_hits
        everything = [*mine, *more]
        groups[group] = (_fit_group([feats[id(r)] for r in everything], [r.label for r in everything], best[0],
                                    best[1], min_df, seed, best[2]) if use_model else None)
        if groups[group] is not None:
            groups[group].keep_rules, groups[group].override = tuple(keep), override
            groups[group].states = group in state_groups
        info["groups"][group] = {
            "rows": len(mine), "extra_train_rows": len(more), "cv_agreement_rules": rule_hits / len(mine),
            "cv_agreement": {f"C={C},class_weight={w},dense_weight={d}": h / len(mine)
                             for (C, w, d), h in hits.items()},
            "use": "model" if use_model else "rules",
            "C": best[0] if use_model else None, "class_weight": best[1] if use_model else None,
            "dense_weight": best[2] if use_model else None,
            "cv_agreement_chosen": model_hits / len(mine) if best is not None else None,
            "rule_classes": kept_info, "keep_rules": keep if use_model else [],
            "override": override if use_model else {}, "override_cv_hit_gain": override_gains,
        }
    return LearnedJudge(groups, info, "unsaved", {cls: model for cls, (model, _) in pooled.items()},
                        states if with_states else None)
