"""Mask files: round trip, validation of every bad input, atomic save, random controls."""

import json
import os
import pickle
from collections import Counter

import pytest

from hneuron_eval.core.masks import MaskError, MaskShapeError, ModelSpec, Neuron, NeuronMask

SPEC = ModelSpec(num_layers=4, d_ff=16, name="toy", architecture="LlamaForCausalLM", model_type="llama")


def make_mask(**kw):
    neurons = kw.pop("neurons", (Neuron(0, 3, 0.7), Neuron(2, 15, 0.1, alpha=2.0), Neuron(2, 4)))
    return NeuronMask(SPEC, tuple(neurons), provenance={"method": "test"}, **kw)


def write(tmp_path, data, name="m.hneurons.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_round_trip(tmp_path):
    mask = make_mask(default_alpha=0.5)
    path = mask.save(tmp_path / "a.hneurons.json")
    loaded = NeuronMask.load(path)
    assert loaded == mask
    assert loaded.sha256() == mask.sha256()
    assert loaded.source == str(path)
    assert loaded.by_layer()[2][0] == Neuron(2, 4)


def test_hash_ignores_provenance_but_not_neurons():
    a = make_mask()
    b = NeuronMask(SPEC, a.neurons, provenance={"other": 1})
    c = NeuronMask(SPEC, a.neurons[:2])
    assert a.sha256() == b.sha256() != c.sha256()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["neurons"].append({"layer": 4, "index": 0}), "neurons[3]'.layer: layer 4 out of range [0, 4)"),
        (lambda d: d["neurons"].append({"layer": 0, "index": 16}), "index 16 out of range [0, 16)"),
        (lambda d: d["neurons"].append({"layer": -1, "index": 0}), "layer -1 out of range"),
        (
            lambda d: d["neurons"].append({"layer": 2, "index": 4}),
            "duplicate neuron (layer 2, index 4), first at neurons[1]",
        ),
        (
            lambda d: d["neurons"].append({"layer": 1, "index": "3"}),
            "field 'neurons[3].index': expected an integer, got '3'",
        ),
        (lambda d: d["neurons"].append({"layer": True, "index": 3}), "field 'neurons[3].layer': expected an integer"),
        (lambda d: d["neurons"].append({"layer": 1, "idx": 3}), "unknown key(s) ['idx']"),
        (lambda d: d["neurons"][0].update(alpha=1e400), "field 'neurons[0].alpha': expected a finite number"),
        (lambda d: d.update(default_alpha="zero"), "field 'default_alpha': expected a finite number"),
        (lambda d: d.update(format_version=2), "unsupported version 2"),
        (lambda d: d.update(format="something"), "field 'format'"),
        (lambda d: d["model"].update(d_ff=0), "field 'model.d_ff': expected a positive integer, got 0"),
        (lambda d: d["model"].pop("num_layers"), "field 'model.num_layers': expected an integer, got None"),
        (lambda d: d.update(neurons={"layer": 0}), "field 'neurons': expected a list"),
        (lambda d: d.update(extra=1), "unknown field(s) ['extra']"),
        (lambda d: d.update(neurons=[]), "field 'neurons': expected at least one neuron, got []"),
        (lambda d: d.update(default_alpha=-2), "field 'default_alpha': expected a finite number >= 0, got -2.0"),
        (lambda d: d["neurons"][0].update(alpha=-1), "field 'neurons[0]'.alpha: expected a number >= 0, got -1.0"),
    ],
)
def test_bad_fields_are_named(tmp_path, mutate, message):
    data = make_mask().to_dict()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(MaskError) as exc:
        NeuronMask.load(path)
    assert str(path) in str(exc.value)
    assert message in str(exc.value)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_alpha_refused(tmp_path, literal):
    text = json.dumps(make_mask().to_dict()).replace('"default_alpha": 0.0', f'"default_alpha": {literal}')
    assert literal in text
    with pytest.raises(MaskError, match=r"field 'default_alpha': expected a finite number, got -?(nan|inf)"):
        NeuronMask.load(write(tmp_path, text))


def test_truncated_and_malformed_json(tmp_path):
    text = json.dumps(make_mask().to_dict(), indent=2)
    with pytest.raises(MaskError, match=r"malformed JSON at line \d+, column \d+.*truncated"):
        NeuronMask.load(write(tmp_path, text[: len(text) // 2]))
    with pytest.raises(MaskError, match="malformed JSON at line 1, column 2"):
        NeuronMask.load(write(tmp_path, "{,}"))
    with pytest.raises(MaskError, match="mask file not found"):
        NeuronMask.load(tmp_path / "missing.hneurons.json")
    with pytest.raises(MaskError, match=r"malformed JSON at line 1, column 1: .* \(not a JSON mask file\)"):
        NeuronMask.load(write(tmp_path, "layer,index\n0,3\n"))
    (tmp_path / "folder.hneurons.json").mkdir()
    with pytest.raises(MaskError, match=r"folder.hneurons.json: is a folder; expected a \*.hneurons.json mask file"):
        NeuronMask.load(tmp_path / "folder.hneurons.json")


def test_loading_never_executes_code(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.hneurons.json"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(MaskError):
        NeuronMask.load(path)
    assert not (tmp_path / "pwned").exists()


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(MaskShapeError) as exc:
        make_mask().check_compatible(30, 1536, "other-model")
    msg = str(exc.value)
    assert "4 layers x d_ff 16" in msg and "30 layers x d_ff 1536" in msg and "'toy'" in msg and "'other-model'" in msg
    make_mask().check_compatible(4, 16)  # the right shape passes


def test_save_is_atomic(tmp_path, monkeypatch):
    good = make_mask()
    path = good.save(tmp_path / "a.hneurons.json")
    before = path.read_bytes()

    import hneuron_eval.core.fileio as fileio

    def broken_dumps(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fileio.json, "dumps", broken_dumps)
    with pytest.raises(RuntimeError):
        make_mask(default_alpha=3.0).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.hneurons.json"]  # no temp file left


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_saved_file_has_the_umask_mode_not_the_temp_file_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = make_mask().save(tmp_path / "a.hneurons.json")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_apply_umask_opens_up_a_private_tree(tmp_path):
    from hneuron_eval.core.fileio import apply_umask

    tree = tmp_path / "model"
    (tree / "sub").mkdir(parents=True, mode=0o700)
    (tree / "model.safetensors").write_bytes(b"x")
    (tree / "model.safetensors").chmod(0o600)
    old = os.umask(0o022)
    try:
        apply_umask(tree)
    finally:
        os.umask(old)
    assert (tree / "model.safetensors").stat().st_mode & 0o777 == 0o644
    assert tree.stat().st_mode & 0o777 == (tree / "sub").stat().st_mode & 0o777 == 0o755


def test_save_requires_suffix(tmp_path):
    with pytest.raises(MaskError, match=r"\.hneurons\.json"):
        make_mask().save(tmp_path / "mask.json")


def test_random_control_matches_per_layer_counts():
    mask = make_mask()
    ctrl = mask.random_control(seed=7)
    assert Counter(n.layer for n in ctrl.neurons) == Counter(n.layer for n in mask.neurons)
    assert not {(n.layer, n.index) for n in ctrl.neurons} & {(n.layer, n.index) for n in mask.neurons}
    assert ctrl == mask.random_control(seed=7)
    assert ctrl.neurons != mask.random_control(seed=8).neurons or ctrl.neurons != mask.random_control(seed=9).neurons
    assert ctrl.provenance["method"] == "random-control" and ctrl.provenance["seed"] == 7
    assert ctrl.provenance["source_mask_sha256"] == mask.sha256()


def test_random_control_refuses_impossible_draw():
    full = NeuronMask(ModelSpec(1, 4), tuple(Neuron(0, i) for i in range(3)))
    with pytest.raises(MaskError, match="cannot draw 3 random neurons from 1"):
        full.random_control(0)


def test_describe_mentions_the_essentials():
    text = make_mask().describe()
    for part in ("sha256", "4 layers x d_ff 16", "3 (46.875 per mille", "L0:1, L2:2", "method: test"):
        assert part in text


def test_a_mask_says_whether_it_is_a_control(tmp_path):
    """``kind`` is a field of the file: a random control is one by its kind, not by its provenance text."""
    from hneuron_eval.core.run_kind import RunKind

    mask = make_mask()
    control = mask.random_control(seed=1)
    assert (mask.kind, control.kind) == (RunKind.HNEURONS, RunKind.CONTROL)
    path = control.save(tmp_path / "c.hneurons.json")
    assert json.loads(path.read_text())["kind"] == "control"
    relabelled = {**json.loads(path.read_text()), "provenance": {"method": "anything"}}
    assert NeuronMask.from_dict(relabelled).kind is RunKind.CONTROL
    assert control.sha256() == NeuronMask.load(path).sha256()  # the kind does not change what the mask does
    with pytest.raises(MaskError, match=r"field 'kind': expected 'hneurons' or 'control', got 'baseline'"):
        NeuronMask.from_dict({**json.loads(path.read_text()), "kind": "baseline"})


def test_a_mask_file_written_before_kinds_reads_its_kind_from_the_method():
    """Files of format 1 without ``kind`` (the committed masks) keep meaning what they meant."""
    from hneuron_eval.core.run_kind import RunKind

    data = make_mask().to_dict()
    del data["kind"]
    assert NeuronMask.from_dict(data).kind is RunKind.HNEURONS
    data["provenance"] = {"method": "random-control", "seed": 0}
    assert NeuronMask.from_dict(data).kind is RunKind.CONTROL
