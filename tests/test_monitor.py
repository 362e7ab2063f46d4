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
        seen, score, controls = monitor.score_of([text])
        assert seen and (score is None or 0 < score < 1) and controls == ()
    assert any(monitor.score_of([t])[1] is not None for t in texts)
    assert sum(watched.monitor_stats.values()) == len(PROMPTS)
    assert watched.get_model_info()["hneuron_detector"]["neurons_read"] == len(WATCHED)
    assert monitor.score_of(plain) == (False, None, ())  # an answer generated without a detector
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
    assert first[0] and third[0] and texts[0] == texts[2] == alone[0]
    assert first[1] == pytest.approx(monitor.score_of(alone)[1], abs=1e-5)
    assert third[1] == pytest.approx(first[1], abs=1e-5)
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
        scores[mode] = (texts, [monitor.score_of([t])[1] for t in texts])
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
        _, score, controls = monitor.score_of([text])
        singles = [monitor.score_of([alone[seed][i]])[1] for seed in (0, 1)]
        assert len(controls) == 2 and (score is None) == (controls[0] is None)
        for control, single in zip(controls, singles):
            assert (control is None and single is None) or control == pytest.approx(single, abs=1e-6)
            checked += single is not None
    assert checked >= 2
    assert [c["probe"].split("/")[-2] for c in model.get_model_info()["hneuron_detector"]["controls"]] == [
        "random-seed0", "random-seed1"]
    with pytest.raises(ValueError, match="matches no probe folder"):
        lm(tiny_llama_dir, detector=probe_dir, detector_controls=str(tmp_path / "nothing*"))


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
