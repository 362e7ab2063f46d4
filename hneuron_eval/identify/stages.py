"""The stages of a run: sample -> features -> probe -> evaluate; each resumes and can be re-run alone."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from hneuron_eval.core.answer_span import RULE, SpanFinder
from hneuron_eval.core.cett import CETTExtractor, FeatureRow
from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.identify import questions as D
from hneuron_eval.identify.jsonl import read_records
from hneuron_eval.identify.run import IdentifyRun
from hneuron_eval.identify.sampling import Sampler, SamplingConfig
from hneuron_eval.identify.splits import balance, check_disjoint
from hneuron_eval.identify.store import FeatureStore, StageError

EVAL_SETS = ("triviaqa", "nq_open", "bioasq", "nonexist")


def _sampler(run: IdentifyRun, samples: int) -> Sampler:
    c = run.config
    model, tok = run.model_and_tokenizer()
    return Sampler(model, tok, SamplingConfig(samples=samples, temperature=c.temperature, top_k=c.top_k, top_p=c.top_p,
                                              max_new_tokens=c.max_new_tokens, batch_size=c.batch_size, seed=c.seed))


def sample(run: IdentifyRun) -> dict[str, Any]:
    """Sample train (train-heldout file) and test (dev file) answers; write balanced, disjoint splits."""
    c = run.config
    train_q, train_src = run.train_questions()
    test_q, test_src = run.test_questions()
    train = _sampler(run, c.samples).run(train_q, run.path("samples", "train.jsonl"), "sample train")
    test = _sampler(run, c.test_samples).run(test_q, run.path("samples", "test.jsonl"), "sample test")
    check_disjoint(train, test)
    hint = f"Use more --questions (now {c.questions}) or fewer --samples (now {c.samples})."
    splits = {
        "train": balance(
            train,
            c.seed,
            c.train_per_class,
            c.min_per_class,
            f"train set ({run.path('samples', 'train.jsonl')}, {c.samples} samples each)",
            hint,
        ),
        "test": balance(
            test,
            c.seed,
            None,
            1,
            f"test set ({run.path('samples', 'test.jsonl')}, {c.test_samples} samples each)",
            "Use more --test-questions.",
        ),
        "source_rows_skipped": {"train": train_src.skipped, "test": test_src.skipped},
        "disjoint_checked": True,
        "run_id": run.info["run_id"],
        "command": run.command,
    }
    write_json_atomic(run.path("splits.json"), splits)
    return splits


def _rows(records: dict[str, dict[str, Any]], ids: list[str], finder: SpanFinder) -> tuple[list[FeatureRow], int]:
    """Feature rows from the first response of each record, and how many spans fell back to all output tokens."""
    rows, fallbacks = [], 0
    for i in ids:
        rec = records[i]
        resp = rec["responses"][0]["ids"]
        start, end, fell_back = finder.find(resp)
        fallbacks += fell_back
        rows.append(FeatureRow(i, rec["prompt_ids"], resp, (start, end)))
    return rows, fallbacks


def extract(run: IdentifyRun, name: str, records: list[dict[str, Any]], split: dict[str, Any],
            batch_size: int | None = None, residual: bool = False) -> FeatureStore:
    """CETT features of a balanced split into ``features/<name>`` (resumes from the completed-rows counter).

    ``residual``: the decoder layers' outputs instead (``core/residual.py``), into ``features/<name>/residual``.
    """
    from hneuron_eval.core.residual import ResidualExtractor

    c = run.config
    model, tok = run.model_and_tokenizer()
    by_id = {r["id"]: r for r in records}
    ids = split["hallucinated"] + split["faithful"]
    labels = [1] * len(split["hallucinated"]) + [0] * len(split["faithful"])
    rows, fallbacks = _rows(by_id, ids, SpanFinder(tok, c.answer_tokens))
    store = FeatureStore(run.path("features", name, *(["residual"] if residual else [])))
    pad = tok.pad_token_id or 0
    ext = ResidualExtractor(model, pad) if residual else CETTExtractor(model, padding_side="right", pad_id=pad)
    extra = {
        "labels": labels,
        "answer_tokens": c.answer_tokens,
        "answer_rule": RULE if c.answer_tokens == "span" else "all output tokens",
        "span_fallbacks": fallbacks,
        "answer_lengths": [r.span[1] - r.span[0] for r in rows],
        "command": run.command,
    }
    # longest first, as lm-eval orders prompts: a batch's rows have similar lengths, so little padding
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i].ids))
    store.create_or_resume(run.identity(), ids, extra, ext.width, c.feature_dtype, order)
    store.fill(len(rows), batch_size or c.feature_batch_size, lambda index: ext.extract([rows[i] for i in index]),
               f"{'residual' if residual else 'features'} {name}")
    return store


def features(run: IdentifyRun, batch_size: int | None = None) -> None:
    """Features for the train and test splits (``batch_size`` overrides the run's, for speed only)."""
    splits = json.loads(run.path("splits.json").read_text())
    for name in ("train", "test"):
        extract(run, name, read_records(run.path("samples", f"{name}.jsonl")), splits[name], batch_size)


def load_features(run: IdentifyRun, name: str) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    meta, ans, oth = FeatureStore(run.path("features", name)).load(run.identity())
    return meta, np.asarray(ans, dtype=np.float32), np.asarray(oth, dtype=np.float32), np.asarray(meta["labels"])


def probe(run: IdentifyRun, c_grid: list[float] | None = None, contrast: str | None = None,
          suppress_questions: int | None = None, cv_folds: int | None = None,
          c_rule: str | None = None) -> dict[str, Any]:
    """The sparsity path by cross-validation, C by its rule, refit on all train responses; probe and masks saved.

    ``c_grid`` / ``contrast`` / ``suppress_questions`` / ``cv_folds`` / ``c_rule`` override the
    run's settings (recorded in probe/selection.json and the probe header). The path is also
    written as probe/sparsity_path.png.
    """
    import time

    from hneuron_eval.core.masks import ModelSpec, Neuron, NeuronMask, control_mask_name
    from hneuron_eval.core.probe import HNeuronProbe
    from hneuron_eval.identify.fitting import C_RULES, pick_c, sparsity_path, training_rows
    from hneuron_eval.identify.path_plot import plot_sparsity_path

    c = run.config
    c_grid, contrast = list(c_grid or c.c_grid), contrast or c.contrast
    suppress_questions = c.suppress_questions if suppress_questions is None else suppress_questions
    cv_folds, c_rule = cv_folds or c.cv_folds, c_rule or c.c_rule
    if c_rule not in C_RULES:
        raise StageError(f"c_rule must be one of {sorted(C_RULES)}, got {c_rule!r}")
    if c_rule == "suppression" and not suppress_questions:
        raise StageError("c_rule 'suppression' needs --suppress-questions N (task accuracy with H-neurons ablated)")
    meta, ans, oth, y = load_features(run, "train")
    t0 = time.perf_counter()
    grid = sparsity_path(ans, oth, y, meta["ids"], c_grid, contrast, cv_folds, c.seed)
    grid_seconds = time.perf_counter() - t0
    if suppress_questions:
        _add_suppression(run, grid, suppress_questions)
    C = pick_c(grid, c_rule)
    X, yy = training_rows(ans, oth, y, contrast)
    fitted = HNeuronProbe(C=C).fit(X, yy)
    extra = {
        "contrast": contrast,
        "answer_rule": meta["answer_rule"],
        "c_grid": grid,
        "c_rule": c_rule,
        "c_rule_text": C_RULES[c_rule],
        "cv_folds": cv_folds,
        "chosen_C": C,
        "n_train_responses": int(len(y)),
        "command": run.command,
    }
    fitted.save(run.path("probe", "probe"), run.identity(), extra)
    hn = fitted.h_neurons(run.info["d_ff"])
    spec = ModelSpec(
        run.info["num_layers"], run.info["d_ff"], run.info["model"], run.info["architecture"], run.info["model_type"]
    )
    prov = {
        "method": "h-neurons (L1 logistic regression on CETT, positive weights)",
        "run_id": run.info["run_id"],
        "contrast": contrast,
        "C": C,
        "samples": c.samples,
        "questions": c.questions,
        "seed": c.seed,
        "train_per_class": int(len(y) // 2),
        "data": "TriviaQA unfiltered train-heldout (DPR dev)",
        "versions": run.info["versions"],
        "command": run.command,
    }
    mask = NeuronMask(spec, tuple(Neuron(layer, i, w) for layer, i, w in hn), 0.0, prov)
    slug = run.slug()
    out = {
        "contrast": contrast,
        "suppress_questions": suppress_questions,
        "cv_folds": cv_folds,
        "c_rule": c_rule,
        "c_rule_text": C_RULES[c_rule],
        "chosen_C": C,
        "c_grid": grid,
        "grid_fit_seconds": grid_seconds,
        "n_h_neurons": len(hn),
        "command": run.command,
    }
    paths = run.path(f"{slug}.hneurons.json"), run.path(control_mask_name(c.seed, slug))
    for stale in paths:  # a re-run must not leave the masks of an earlier probe behind
        stale.unlink(missing_ok=True)
    if len(mask):
        mask.save(paths[0])
        mask.random_control(c.seed).save(paths[1])
    write_json_atomic(run.path("probe", "selection.json"), out)
    plot_sparsity_path(grid, C, f"{run.info['model']}: {c_rule} rule, {cv_folds}-fold CV",
                       run.path("probe", "sparsity_path.png"))
    return out


def _add_suppression(run: IdentifyRun, grid: list[dict[str, Any]], n_questions: int) -> None:
    """Task accuracy with each candidate's H-neurons ablated, on train-file questions outside the train split."""
    from hneuron_eval.identify.suppression import suppressed_accuracy

    c, d_ff = run.config, run.info["d_ff"]
    used = {r["id"] for r in read_records(run.path("samples", "train.jsonl"))}
    pool = [q for q in D.triviaqa_train().questions if q.id not in used][:n_questions]
    model, tok = run.model_and_tokenizer()
    for g in grid:
        neurons = [(i // d_ff, i % d_ff) for i in g["h_neuron_index"]]
        g["suppressed_task_accuracy"] = suppressed_accuracy(
            model,
            tok,
            pool,
            neurons,
            run.info["model"],
            run.path("probe", f"suppressed-C{g['C']:g}.jsonl"),
            c.batch_size,
            c.max_new_tokens,
        )


def _eval_questions(run: IdentifyRun, name: str, bioasq: str | None) -> tuple[list[D.Question], D.QuestionSet] | str:
    """Questions of a cross-domain set, or the reason it is skipped."""
    from hneuron_eval.identify.run import _subset

    n, seed = run.config.eval_questions, run.config.seed + 2
    if name == "nq_open":
        qs = D.nq_open()
    elif name == "bioasq":
        if not bioasq:
            return "skipped: no --bioasq path given (BioASQ is not bundled; pass the factoid jsonl)"
        if not Path(bioasq).is_file():
            return f"skipped: BioASQ file not found: {bioasq}"
        qs = D.bioasq(bioasq)
    else:
        qs = D.read_nec()
        half = n // 2  # the same number of invented-entity and real-entity prompts
        fake = _subset([q for q in qs.questions if q.kind == "nonexistent"], half, seed)
        real = _subset([q for q in qs.questions if q.kind == "real"], half, seed)
        return fake + real, qs
    return _subset(qs.questions, n, seed), qs


def _save_detectors(run: IdentifyRun, header: dict[str, Any], h_probe: Any, mask: Any, random_probes: list,
                    controls: list, residual: Any) -> None:
    """The compared detectors as probe folders: ``h-neurons``, ``random-seed<k>``, ``residual``.

    ``hneuron-hf`` loads them as ``detector=`` / ``detector_controls=``, so that the comparison
    of H-neurons with random neurons, with the L1 probe on all FFN neurons (``probe/`` itself,
    kept once) and with the residual-stream probe can be repeated inside lm-eval.
    """
    import shutil

    from hneuron_eval.core.residual import RESIDUAL_DEFINITION

    folder = run.path("detectors")
    if folder.exists():
        shutil.rmtree(folder)  # a re-run must not leave detectors of an earlier probe behind
    named = [("h-neurons", h_probe, mask)]
    named += [(f"random-seed{s}", p, m) for s, (p, m) in enumerate(zip(random_probes, controls))]
    for name, probe_, neurons in named:
        probe_.save(run.path("detectors", name, "probe"), run.identity(), {
            "contrast": contrast_of(header), "answer_rule": header["answer_rule"], "neurons": name,
            "mask_sha256": neurons.sha256(), "detector": "L2 logistic regression (C=1, standardised) on the CETT "
            "of these neurons, trained on the run's training responses", "command": run.command})
    residual.save(run.path("detectors", "residual", "probe"), run.identity(), {
        "contrast": "1-vs-1", "answer_rule": header["answer_rule"], "neurons": "residual",
        "input_definition": RESIDUAL_DEFINITION, "layer": int(residual.features[0]) // run.residual_width(),
        "d_model": run.residual_width(), "detector": RESIDUAL_DETECTOR, "command": run.command})


RESIDUAL_DETECTOR = ("L2 logistic regression (C=1, standardised) on the hidden state one decoder layer outputs, "
                     "averaged over the answer tokens; the layer with the best cross-validated AUROC on the "
                     "training responses (faithful against hallucinated answers)")


def _residual_features(run: IdentifyRun, name: str, records: list[dict[str, Any]],
                       split: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """(meta, answer-averaged layer outputs) of a split, extracted once into ``features/<name>/residual``."""
    meta, ans, _ = extract(run, name, records, split, residual=True).load(run.identity())
    return meta, np.asarray(ans, dtype=np.float32)


def _output_only(run: IdentifyRun, records: list[dict[str, Any]], split: dict[str, Any]) -> dict[str, Any]:
    """AUROC (95% CI) of each output-only baseline on a balanced split's responses (``harness/baselines.py``)."""
    from hneuron_eval.core.stats import auroc, auroc_ci
    from hneuron_eval.harness.baselines import BASELINES, teacher_forced

    model, tok = run.model_and_tokenizer()
    ids = split["hallucinated"] + split["faithful"]
    labels = np.array([1] * len(split["hallucinated"]) + [0] * len(split["faithful"]))
    rows, _ = _rows({r["id"]: r for r in records}, ids, SpanFinder(tok, run.config.answer_tokens))
    stats = teacher_forced(model, rows, tok.pad_token_id or 0, run.config.feature_batch_size)
    keep = np.array([s is not None for s in stats])
    out: dict[str, Any] = {"responses": int(keep.sum()), "no_answer_tokens": int((~keep).sum())}
    for name, sign in BASELINES.items():
        v = np.array([sign * s[name] for s in stats if s is not None])
        pos, neg = v[labels[keep] == 1], v[labels[keep] == 0]
        both = len(pos) > 0 and len(neg) > 0
        ci = auroc_ci(pos, neg, run.config.n_boot, run.config.seed) if both else (math.nan, math.nan)
        out[name] = {"auroc": auroc(pos, neg) if both else None,
                     "auroc_ci95": None if any(math.isnan(x) for x in ci) else list(ci)}
    return out


def _residual_probe(run: IdentifyRun, train: tuple[list[dict[str, Any]], dict[str, Any]]) -> tuple[Any, list]:
    """The residual-stream baseline probe of the training responses, and the per-layer CV scores that chose it."""
    from hneuron_eval.identify.fitting import residual_probe

    meta, ans = _residual_features(run, "train", *train)
    return residual_probe(ans, np.asarray(meta["labels"]), meta["ids"], run.info["num_layers"],
                          run.residual_width(), run.config.cv_folds, run.config.seed)


def contrast_of(record: dict[str, Any]) -> str:
    """The probe contrast of a probe header or selection.json (written as ``mode`` before it had its own name)."""
    return record["contrast"] if "contrast" in record else record["mode"]


def evaluate(run: IdentifyRun, bioasq: str | None = None) -> dict[str, Any]:
    """Accuracy/AUROC with CIs on TriviaQA, NQ-Open, BioASQ and NEC: full probe, H-neurons, random neurons."""
    from hneuron_eval.core.masks import NeuronMask
    from hneuron_eval.core.probe import HNeuronProbe
    from hneuron_eval.identify.evaluate import bootstrap_metrics, compare_on, subset_probe

    c = run.config
    full, header = HNeuronProbe.load(run.path("probe", "probe"), run.identity())
    _, tr_ans, tr_oth, tr_y = load_features(run, "train")
    d_ff = run.info["d_ff"]
    slug = run.slug()
    mask_path = run.path(f"{slug}.hneurons.json")
    if not mask_path.exists():
        raise StageError(
            f"{mask_path}: the probe found no H-neurons (no positive weight at C={header['chosen_C']}); "
            "try a larger C grid"
        )
    mask = NeuronMask.load(mask_path)
    flat = lambda m: np.array([n.layer * d_ff + n.index for n in m.neurons])  # noqa: E731
    contrast = contrast_of(header)
    h_probe = subset_probe(flat(mask), tr_ans, tr_oth, tr_y, contrast)
    controls = [mask.random_control(s) for s in range(c.random_seeds)]
    random_probes = [subset_probe(flat(m), tr_ans, tr_oth, tr_y, contrast) for m in controls]
    splits = json.loads(run.path("splits.json").read_text())
    sources = {name: (read_records(run.path("samples", f"{name}.jsonl")), splits[name]) for name in ("train", "test")}
    residual, layers = _residual_probe(run, sources["train"])
    _save_detectors(run, header, h_probe, mask, random_probes, controls, residual)

    sets, info = {}, {}
    _, te_ans, _, te_y = load_features(run, "test")
    sets["triviaqa"] = (te_ans, te_y)
    feature_sets = {"triviaqa": "test"}
    info["triviaqa"] = {"split": {k: splits["test"][k] for k in ("per_class", "label_counts", "dropped", "questions")}}
    for name in EVAL_SETS[1:]:
        got = _eval_questions(run, name, bioasq)
        if isinstance(got, str):
            print(f"[evaluate] {name}: {got}")
            info[name] = {"skipped": got}
            continue
        questions, src = got
        records = _sampler(run, c.test_samples).run(
            questions, run.path("samples", f"eval-{name}.jsonl"), f"sample {name}"
        )
        try:
            split = balance(records, c.seed, None, 1, f"{name} ({len(records)} questions)")
        except ValueError as exc:
            print(f"[evaluate] {name}: skipped: {exc}")
            info[name] = {"skipped": str(exc), "source_rows_skipped": src.skipped}
            continue
        store = extract(run, f"eval-{name}", records, split)
        meta, ans, _ = store.load(run.identity())
        sets[name] = (np.asarray(ans, dtype=np.float32), np.asarray(meta["labels"]))
        sources[f"eval-{name}"], feature_sets[name] = (records, split), f"eval-{name}"
        info[name] = {
            "split": {k: split[k] for k in ("per_class", "label_counts", "dropped", "questions")},
            "source_rows_skipped": src.skipped,
        }
    results = compare_on(sets, full, h_probe, random_probes, c.n_boot, c.seed)
    for name, (_, y) in sets.items():
        if len(y):
            X = _residual_features(run, feature_sets[name], *sources[feature_sets[name]])[1]
            results[name]["residual"] = bootstrap_metrics(y, residual.decision_function(X), c.n_boot, c.seed)
            results[name]["output_only"] = _output_only(run, *sources[feature_sets[name]])
    for name in info:
        results.setdefault(name, {}).update(info[name])
    out = {
        "command": run.command,
        "n_h_neurons": len(mask),
        "share_per_mille": 1000 * mask.share(),
        "random_seeds": c.random_seeds,
        "detector": "L2 logistic regression (C=1, standardised) on the CETT of the H-neurons / of random "
        "neurons with the same per-layer counts",
        "residual": {"detector": RESIDUAL_DETECTOR, "layer": int(residual.features[0]) // run.residual_width(),
                     "layers": layers},
        "sets": results,
    }
    write_json_atomic(run.path("evaluation.json"), out)
    return out
