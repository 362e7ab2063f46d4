"""The in-harness detector: identification's CETT from the generation itself, scores to the tasks, bad probes."""

import json
import math

import numpy as np
import pytest
from lm_eval.api.instance import Instance
from sklearn.metrics import roc_auc_score

from hneuron_eval.core.answer_span import RULE, SpanFinder
from hneuron_eval.core.cett import CETTExtractor, FeatureRow
from hneuron_eval.core.masks import Neuron, NeuronMask
from hneuron_eval.core.probe import HNeuronProbe
from hneuron_eval.harness import detector as monitor
from hneuron_eval.harness.detector import DetectorError
from hneuron_eval.harness.lm_model import HNeuronLM

WATCHED = [3, 17, 40, 48 + 5, 48 + 30]  # flat indices: layer 0 neurons 3, 17, 40; layer 1 neurons 5, 30
PROMPTS = ["Q: Who wrote Hamlet?\nA:", "The capital of France is", "x"]


def save_probe(folder, model_name: str, weights=(2.0, -1.5, 0.7, 1.2, -0.4), watched=WATCHED, **header) -> str:
    probe = HNeuronProbe(C=1.0)
    probe.coef_ = np.zeros(96)
    probe.coef_[watched] = weights
    probe.intercept_, probe.n_features_in_, probe.classes_ = -0.3, 96, np.array([0, 1])
    probe.save(folder / "probe", {"model": model_name, "num_layers": 2, "d_ff": 48, "run_id": "test"},
               {"answer_rule": RULE, **header})
    return str(folder)


@pytest.fixture(scope="module")
def probe_dir(tiny_llama_dir, tmp_path_factory):
    return save_probe(tmp_path_factory.mktemp("probe"), tiny_llama_dir.name)


def lm(path, **kw):
    return HNeuronLM(pretrained=str(path), device="cpu", batch_size=3, dtype="float32", **kw)


def requests(task="hn_t", max_gen_toks=12, prompts=PROMPTS):
    args = {"until": ["\n\n"], "max_gen_toks": max_gen_toks, "do_sample": False}
    return [Instance("generate_until", {"q": p}, (p, dict(args)), i, metadata=(task, i, 1))
            for i, p in enumerate(prompts)]


def test_features_are_identifications_cett_of_the_generated_answer(tiny_llama_dir, probe_dir):
    """Generation-time features == CETTExtractor (the identification pipeline) on prompt + generated ids."""
    model = lm(tiny_llama_dir, detector=probe_dir)
    det, tok = model.detector, model.tokenizer
    enc = tok(PROMPTS, return_tensors="pt", padding=True, padding_side="left")
    with det.watch() as rec:
        out = model.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], max_new_tokens=10,
                                   do_sample=False, pad_token_id=tok.pad_token_id)
    finder = SpanFinder(tok, "span")
    got = det.answer_features(rec, enc["input_ids"].shape[1], out, model._end_ids, finder)
    extractor = CETTExtractor(model.model, padding_side="right", pad_id=tok.pad_token_id)
    compared = 0
    for i, (features, note) in enumerate(got):
        prompt = enc["input_ids"][i][enc["attention_mask"][i].bool()].tolist()
        seq = out[i, enc["input_ids"].shape[1]:].tolist()
        seq = seq[:next((k for k, t in enumerate(seq) if t in model._end_ids), len(seq))]
        start, end, _ = finder.find(seq)
        if note != "scored":  # the last generated token is never fed back: score without it
            assert note == "last answer token not fed back (the last generated)" and end == len(seq)
            end -= 1
        if features is None or end <= start:
            continue
        answer, _ = extractor.extract([FeatureRow(str(i), prompt, seq, (start, end))])
        np.testing.assert_allclose(features, answer[0, WATCHED], rtol=1e-4, atol=1e-6)
        assert det.score(features) == pytest.approx(float(det.probe.predict_proba(answer)[0, 1]), abs=1e-5)
        compared += 1
    assert compared >= 2


def forward_calls(model) -> tuple[list[str], list]:
    """Generated texts and the number of forward passes of the decoder body."""
    calls = []
    handle = model.model.model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        return model.generate_until(requests()), calls
    finally:
        handle.remove()


def test_generate_until_scores_every_answer_and_changes_nothing(tiny_llama_dir, probe_dir, tmp_path):
    plain, plain_calls = forward_calls(lm(tiny_llama_dir))
    watched = lm(tiny_llama_dir, detector=probe_dir)
    texts, watched_calls = forward_calls(watched)
    assert texts == plain  # the monitor only reads activations
    assert len(watched_calls) == len(plain_calls)  # and adds no forward pass
    for text in texts:
        seen = monitor.score_of([text])
        assert seen is not None and (seen.score is None or 0 < seen.score < 1) and seen.controls == ()
    assert any(monitor.score_of([t]).score is not None for t in texts)
    assert sum(watched.monitor_stats.values()) == len(PROMPTS)
    assert watched.get_model_info()["hneuron_detector"]["neurons_read"] == len(WATCHED)
    assert monitor.score_of(plain) is None  # an answer generated without a detector
    assert not any(m._forward_hooks for m in watched.detector.layout.down_projs)  # hooks removed


def test_identical_documents_keep_their_own_scores(tiny_llama_dir, probe_dir):
    """Two requests with the same document and prompt each get the score of their own answer; nothing is left over."""
    import copy
    import pickle

    model = lm(tiny_llama_dir, detector=probe_dir)
    prompts = [PROMPTS[0], PROMPTS[1], PROMPTS[0]]
    texts = model.generate_until(requests(prompts=prompts))
    alone = lm(tiny_llama_dir, detector=probe_dir).generate_until(requests(prompts=[PROMPTS[0]]))
    first, third = monitor.score_of([texts[0]]), monitor.score_of([texts[2]])
    assert first is not None and third is not None and texts[0] == texts[2] == alone[0]
    assert first.score == pytest.approx(monitor.score_of(alone).score, abs=1e-5)
    assert third.score == pytest.approx(first.score, abs=1e-5)
    assert third.baselines == pytest.approx(first.baselines)
    assert model.monitor_stats.total() == 3 and not model._pending  # every answer paired, none kept
    for copied in (copy.deepcopy(texts[1]), pickle.loads(pickle.dumps(texts[1]))):  # lm-eval copies and gathers
        assert monitor.score_of([copied]) == monitor.score_of([texts[1]])


def test_detector_with_a_mask_fold_and_hook_agree(tiny_llama_dir, probe_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    mask = NeuronMask.for_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir),
                                [Neuron(0, 3), Neuron(0, 17), Neuron(1, 30)], name=tiny_llama_dir.name)
    path = mask.save(tmp_path / "m.hneurons.json")
    scores = {}
    for mode in ("fold", "hook"):
        model = lm(tiny_llama_dir, detector=probe_dir, mask=str(path), alpha=2.0, scale_via=mode)
        texts = model.generate_until(requests(task=f"hn_{mode}"))
        scores[mode] = (texts, [monitor.score_of([t]).score for t in texts])
    assert any(score is not None for score in scores["fold"][1])
    assert scores["fold"][0] == scores["hook"][0]
    for a, b in zip(scores["fold"][1], scores["hook"][1]):
        assert (a is None and b is None) or a == pytest.approx(b, abs=1e-5)


def test_control_detectors_score_the_same_generation(tiny_llama_dir, probe_dir, tmp_path):
    """detector_controls= (random-neuron probes) are scored on the same answers, each as if it were the detector."""
    for seed, neurons in enumerate(([0, 1, 2, 50, 60], [10, 20, 30, 70, 80])):
        save_probe(tmp_path / f"random-seed{seed}", tiny_llama_dir.name, watched=neurons)
    model = lm(tiny_llama_dir, detector=probe_dir, detector_controls=str(tmp_path / "random-seed*"))
    texts = model.generate_until(requests())
    alone = [lm(tiny_llama_dir, detector=str(tmp_path / f"random-seed{seed}")).generate_until(requests())
             for seed in (0, 1)]
    checked = 0
    for i, text in enumerate(texts):
        score, controls = monitor.score_of([text]).score, monitor.score_of([text]).controls
        singles = [monitor.score_of([alone[seed][i]]).score for seed in (0, 1)]
        assert len(controls) == 2 and (score is None) == (controls[0] is None)
        for control, single in zip(controls, singles):
            assert (control is None and single is None) or control == pytest.approx(single, abs=1e-6)
            checked += single is not None
    assert checked >= 2
    assert [c["probe"].split("/")[-2] for c in model.get_model_info()["hneuron_detector"]["controls"]] == [
        "random-seed0", "random-seed1"]
    with pytest.raises(ValueError, match="pattern '.*nothing\\*' matches no probe folder"):
        lm(tiny_llama_dir, detector=probe_dir, detector_controls=f"{tmp_path / 'random-seed*'};{tmp_path / 'nothing*'}")
    two = lm(tiny_llama_dir, detector=probe_dir,  # ';' joins globs; a folder matched twice is read once
             detector_controls=f"{tmp_path / 'random-seed1'};{tmp_path / 'random-seed*'}")
    assert [c.source.parent.name for c in two.controls] == ["random-seed1", "random-seed0"]


def test_bad_detectors_refused_before_generation(tiny_llama_dir, tmp_path):
    with pytest.raises(DetectorError, match="missing file .*probe.json"):
        lm(tiny_llama_dir, detector=str(tmp_path))
    other = save_probe(tmp_path / "other", "smollm2-135m-instruct")
    with pytest.raises(DetectorError, match="made for model 'smollm2-135m-instruct'"):
        lm(tiny_llama_dir, detector=other)
    defined = save_probe(tmp_path / "def", tiny_llama_dir.name, input_definition={"feature": "something else"})
    with pytest.raises(DetectorError, match="field 'input_definition'"):
        lm(tiny_llama_dir, detector=defined)
    corrupt = save_probe(tmp_path / "corrupt", tiny_llama_dir.name)
    (tmp_path / "corrupt" / "probe.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(DetectorError, match=r"corrupt/probe.safetensors: unreadable probe weights"):
        lm(tiny_llama_dir, detector=corrupt)
    broken = save_probe(tmp_path / "broken", tiny_llama_dir.name)
    (tmp_path / "broken" / "probe.json").write_text("{not json")
    with pytest.raises(DetectorError, match=r"broken/probe.json: not a JSON probe header"):
        lm(tiny_llama_dir, detector=broken)
    header = tmp_path / "shape" / "probe.json"
    save_probe(tmp_path / "shape", tiny_llama_dir.name)
    data = json.loads(header.read_text())
    data["identity"]["d_ff"] = 64
    header.write_text(json.dumps(data))
    with pytest.raises(DetectorError, match="2 layers x d_ff 64"):
        lm(tiny_llama_dir, detector=str(tmp_path / "shape"))


def test_aggregations():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200).astype(float)
    scores = np.clip(labels * 0.3 + rng.normal(0.4, 0.2, 200), 0, 1)
    items = [[s, y] for s, y in zip(scores, labels)] + [[0.9, math.nan], [math.nan, 1.0]]  # unlabelled, unscored
    assert monitor.auroc(items) == pytest.approx(roc_auc_score(labels, scores))
    low, high = monitor.auroc_ci_low(items), monitor.auroc_ci_high(items)
    assert low < monitor.auroc(items) < high and high - low < 0.3
    assert monitor.accuracy(items) == pytest.approx(((scores > 0.5) == (labels == 1)).mean())
    assert monitor.accuracy_ci_low(items) < monitor.accuracy(items) < monitor.accuracy_ci_high(items)
    assert math.isnan(monitor.auroc([[0.2, 1.0], [0.4, 1.0]]))  # one class: no AUROC, not a number that looks real
    declined = monitor.detector_metrics(0.7, "declined")
    assert declined["detector_coverage"] == 0.0 and math.isnan(declined["detector_auroc"][1])
    assert monitor.detector_metrics(0.7, "hallucinated")["detector_auroc"] == [0.7, 1.0]
    assert not any("controls" in k for k in monitor.detector_metrics(0.7, "hallucinated"))
    # two controls: one as good as chance, one perfect; the detector beats the first only
    perfect = labels.copy()
    rows = [[s, y, 0.5, p] for s, y, p in zip(scores, labels, perfect)]
    assert monitor.controls_beaten(rows) == 1.0 and monitor.controls_auroc_max(rows) == 1.0
    assert monitor.controls_auroc_mean(rows) == pytest.approx(0.75)
    assert set(monitor.detector_metrics(0.7, "correct", (0.1, None))) >= {"detector_controls_beaten"}
    # paired difference against each control: its point value is the AUROC difference on the same answers
    diff, low, high = monitor.auroc_difference(rows, 3)
    assert diff == pytest.approx(monitor.auroc(rows) - 1.0) and low <= diff <= high < 0
    diff, low, high = monitor.auroc_difference(rows, 2)
    assert diff == pytest.approx(monitor.auroc(rows) - 0.5) and 0 < low <= diff <= high
    same = [[s, y, s] for s, y in zip(scores, labels)]
    assert monitor.auroc_difference(same, 2) == (0.0, 0.0, 0.0)  # a detector equals itself on every resample
    assert all(math.isnan(v) for v in monitor.auroc_difference([[0.2, 1.0, 0.1]], 2))


def hand_baselines(logits: list, seq: list[int], start: int, end: int) -> dict:
    """The four baselines of answer tokens [start, end) from each step's raw logits, computed with numpy and scipy."""
    from scipy.special import log_softmax
    from scipy.stats import entropy

    lps = [log_softmax(logits[k].astype(np.float64))[seq[k]] for k in range(start, end)]
    ents = [entropy(np.exp(log_softmax(logits[k].astype(np.float64)))) for k in range(start, end)]
    return {"mean_logprob": np.mean(lps), "min_logprob": np.min(lps), "mean_entropy": np.mean(ents),
            "perplexity": np.exp(-np.mean(lps)), "answer_tokens": end - start}


@pytest.mark.parametrize("decoder", ["hf", "compact"])
def test_baselines_are_the_generations_own_token_probabilities(tiny_llama_dir, probe_dir, decoder):
    """Each statistic equals a hand computation from the logits of HF's generate (output_logits), per row."""
    from hneuron_eval.core.generation import generate
    from hneuron_eval.harness.baselines import watch_tokens

    model = lm(tiny_llama_dir, detector=probe_dir)
    tok, net = model.tokenizer, model.model
    enc = tok(PROMPTS, return_tensors="pt", padding=True, padding_side="left")
    ref = net.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], max_new_tokens=10,
                       do_sample=False, pad_token_id=tok.pad_token_id, output_logits=True,
                       return_dict_in_generate=True)
    width = enc["input_ids"].shape[1]
    with watch_tokens(net) as rec:
        if decoder == "hf":
            out, lengths = net.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                        max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id), None
        else:  # rows join and leave: two slots for three prompts
            result = generate(net, enc["input_ids"], enc["attention_mask"], 10, sorted(model._end_ids),
                              tok.pad_token_id, slots=2, compact_at=0.0)
            out, lengths = result.sequences, result.lengths
    assert torch_equal(out[:, width:width + 10], ref.sequences[:, width:])
    spans = monitor.answer_spans(out, width, model._end_ids, SpanFinder(tok, "span"), lengths)
    compared = 0
    for row, (seq, start, end) in enumerate(spans):
        got, note = rec.statistics(row, seq, start, end)
        if end <= start:
            assert got is None and note == "no answer tokens"
            continue
        assert note == "scored"  # greedy: the last token's probability is read off its own distribution
        logits = [ref.logits[k][row].numpy() for k in range(len(ref.logits))]
        want = hand_baselines(logits, seq, start, end)
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-5), key
        compared += 1
    assert compared >= 2
    assert len(rec.calls) <= 2  # only the latest call's log-probabilities are kept


def torch_equal(a, b) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def test_harness_baselines_ride_with_each_answer_and_add_no_pass(tiny_llama_dir, probe_dir):
    plain, plain_calls = forward_calls(lm(tiny_llama_dir, detector=probe_dir, baselines="false"))
    watched = lm(tiny_llama_dir, detector=probe_dir)
    texts, calls = forward_calls(watched)
    assert texts == plain and len(calls) == len(plain_calls)
    assert all(monitor.score_of([t]).baselines is None for t in plain)  # not asked for
    got = [monitor.score_of([t]).baselines for t in texts]
    assert all(isinstance(b, dict) for b in got) and sum(bool(b) for b in got) >= 2
    for b in filter(None, got):
        assert b["min_logprob"] <= b["mean_logprob"] <= 0 and b["perplexity"] == pytest.approx(
            math.exp(-b["mean_logprob"])) and b["mean_entropy"] >= 0 and b["answer_tokens"] >= 1
    info = watched.get_model_info()["hneuron_detector"]["baselines"]
    assert info["direction"] == monitor.BASELINES and sum(info["answers"].values()) == len(PROMPTS)
    assert not watched.model._forward_hooks  # the model-level hook is removed after each call


def test_baselines_without_a_detector_or_with_a_bad_value_are_refused(tiny_llama_dir, probe_dir):
    with pytest.raises(ValueError, match="baselines= was given without detector="):
        lm(tiny_llama_dir, baselines="true")
    with pytest.raises(ValueError, match="baselines must be true or false, got 'maybe'"):
        lm(tiny_llama_dir, detector=probe_dir, baselines="maybe")


def test_baseline_aggregations_orient_each_statistic_and_pair_with_the_detector():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300).astype(float)
    detector = np.clip(labels * 0.3 + rng.normal(0.4, 0.2, 300), 0, 1)
    mean_lp = -1.0 - labels + rng.normal(0, 0.3, 300)  # hallucinated answers are less probable: a strong baseline
    stats = [{"mean_logprob": m, "min_logprob": m - 1, "mean_entropy": rng.random(), "perplexity": math.exp(-m),
              "answer_tokens": 3.0} for m in mean_lp]
    items = [monitor.detector_metrics(s, "hallucinated" if y else "correct", (), b)["baseline_perplexity_auroc"]
             for s, y, b in zip(detector, labels, stats)]
    items.append(monitor.detector_metrics(0.5, "declined", (), {})["baseline_perplexity_auroc"])  # unlabelled
    m = monitor.METRICS
    assert m["baseline_mean_logprob_auroc"][0](items) == pytest.approx(roc_auc_score(labels, -mean_lp))
    assert m["baseline_perplexity_auroc"][0](items) == pytest.approx(m["baseline_mean_logprob_auroc"][0](items))
    assert m["baseline_mean_entropy_auroc"][0](items) == pytest.approx(0.5, abs=0.1)  # noise: chance
    diff = m["detector_minus_mean_logprob_auroc"][0](items)
    assert diff == pytest.approx(roc_auc_score(labels, detector) - roc_auc_score(labels, -mean_lp))
    low, high = m["detector_minus_mean_logprob_auroc_ci_low"][0](items), \
        m["detector_minus_mean_logprob_auroc_ci_high"][0](items)
    assert low <= diff <= high < 0  # the baseline is better, and the paired CI says so
    assert monitor.detector_metrics(0.5, "correct").keys().isdisjoint(monitor.BASELINE_METRICS)


def save_residual_probe(folder, model_name: str, d_model: int, layer: int = 1) -> str:
    """A residual-stream probe (L2, standardised) on one layer's hidden state, as identification saves it."""
    from hneuron_eval.core.residual import RESIDUAL_DEFINITION

    rng = np.random.default_rng(0)
    cols = np.arange(layer * d_model, (layer + 1) * d_model)
    probe = HNeuronProbe(C=1.0, penalty="l2", features=cols, standardize=True)
    probe.coef_, probe.intercept_ = rng.normal(0, 1, d_model), 0.1
    probe.mean_, probe.scale_ = rng.normal(0, 0.1, d_model), np.full(d_model, 0.5)
    probe.n_features_in_, probe.classes_ = 2 * d_model, np.array([0, 1])
    probe.save(folder / "probe", {"model": model_name, "num_layers": 2, "d_ff": 48, "run_id": "test"},
               {"answer_rule": RULE, "input_definition": RESIDUAL_DEFINITION, "layer": layer})
    return str(folder)


def test_residual_detector_reads_identifications_layer_outputs(tiny_llama_dir, tmp_path):
    """Generation-time residual features == ResidualExtractor on prompt + generated ids; the probe scores them."""
    from hneuron_eval.core.residual import ResidualExtractor

    model = lm(tiny_llama_dir)
    d_model = model.model.config.hidden_size
    watched = lm(tiny_llama_dir, detector=save_residual_probe(tmp_path, tiny_llama_dir.name, d_model))
    det, tok = watched.detector, watched.tokenizer
    assert det.residual and list(det.layers) == [1] and det.to_dict()["dimensions_read"] == d_model
    enc = tok(PROMPTS, return_tensors="pt", padding=True, padding_side="left")
    with det.watch() as rec:
        out = watched.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                     max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
    finder = SpanFinder(tok, "span")
    got = det.answer_features(rec, enc["input_ids"].shape[1], out, watched._end_ids, finder)
    extractor = ResidualExtractor(watched.model, tok.pad_token_id)
    compared = 0
    for i, (features, note) in enumerate(got):
        prompt = enc["input_ids"][i][enc["attention_mask"][i].bool()].tolist()
        seq = out[i, enc["input_ids"].shape[1]:].tolist()
        seq = seq[:next((k for k, t in enumerate(seq) if t in watched._end_ids), len(seq))]
        start, end, _ = finder.find(seq)
        end -= note != "scored"  # the last generated token is never fed back
        if features is None or end <= start:
            continue
        answer, _ = extractor.extract([FeatureRow(str(i), prompt, seq, (start, end))])
        np.testing.assert_allclose(features, answer[0, d_model:], rtol=1e-4, atol=1e-5)
        assert det.score(features) == pytest.approx(float(det.probe.predict_proba(answer)[0, 1]), abs=1e-5)
        compared += 1
    assert compared >= 2
    texts = watched.generate_until(requests())
    assert texts == model.generate_until(requests())  # reading the residual stream changes nothing
    assert any(monitor.score_of([t]).score is not None for t in texts)
    assert not any(layer._forward_hooks for layer in det.layout.layers)


def test_residual_probe_of_another_width_is_refused(tiny_llama_dir, tmp_path):
    save_residual_probe(tmp_path, tiny_llama_dir.name, d_model=8)
    with pytest.raises(DetectorError, match=r"n_features_in 16 != \d+ \(2 layers x d_model \d+\)"):
        lm(tiny_llama_dir, detector=str(tmp_path))


def test_teacher_forced_baselines_equal_the_generations_own(tiny_llama_dir, probe_dir):
    """Identification's output-only baselines (stored responses fed whole) == those read during generation."""
    from hneuron_eval.harness.baselines import teacher_forced, watch_tokens

    model = lm(tiny_llama_dir, detector=probe_dir)
    tok, net = model.tokenizer, model.model
    enc = tok(PROMPTS, return_tensors="pt", padding=True, padding_side="left")
    width = enc["input_ids"].shape[1]
    with watch_tokens(net) as rec:
        out = net.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], max_new_tokens=10,
                           do_sample=False, pad_token_id=tok.pad_token_id)
    spans = monitor.answer_spans(out, width, model._end_ids, SpanFinder(tok, "span"))
    rows = [FeatureRow(str(i), enc["input_ids"][i][enc["attention_mask"][i].bool()].tolist(), seq, (start, end))
            for i, (seq, start, end) in enumerate(spans)]
    forced = teacher_forced(net, rows, tok.pad_token_id, batch_size=2)
    compared = 0
    for i, (seq, start, end) in enumerate(spans):
        live, _ = rec.statistics(i, seq, start, end)
        assert (live is None) == (forced[i] is None)
        if live is not None:
            assert live == pytest.approx(forced[i], rel=1e-4, abs=1e-5)
            compared += 1
    assert compared >= 2
