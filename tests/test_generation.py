"""Compact decoding (core/generation.py): finished rows leave the batch, every row keeps generate's tokens."""

import pytest
import torch
from lm_eval.api.instance import Instance
from tiny_models import CONFIGS, make_model, make_tokenizer
from transformers import AutoModelForCausalLM

from hneuron_eval.core.generation import Sampling, active_rows, generate, unsupported
from hneuron_eval.core.hooks import forward_hooks
from hneuron_eval.core.masks import Neuron, NeuronMask
from hneuron_eval.errors import ModelArgsError
from hneuron_eval.harness import detector as monitor
from hneuron_eval.harness.lm_model import HNeuronLM

PROMPTS = ["Once upon a time", "Q: who?\nA:", "abc", "The capital of France is, as everyone knows,", "x"]
EOS, PAD = 257, 258
# many end tokens, so that rows of one batch end at different steps
EARLY_ENDS = [EOS, *range(40, 120)]


def encoded(prompts=PROMPTS):
    tok = make_tokenizer()
    return tok(prompts, return_tensors="pt", padding=True, padding_side="left")


def rows_of(ids: torch.Tensor, width: int, lengths: list[int]) -> list[list[int]]:
    return [ids[r, width:width + n].tolist() for r, n in enumerate(lengths)]


def reference(model, enc, ends, max_new=20) -> list[list[int]]:
    """Each row of generate's greedy output up to and including its first end token."""
    out = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], max_new_tokens=max_new,
                         do_sample=False, pad_token_id=PAD, eos_token_id=ends)
    rows = out[:, enc["input_ids"].shape[1]:].tolist()
    return [r[:next((k + 1 for k, t in enumerate(r) if t in ends), len(r))] for r in rows]


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_compact_decoding_gives_generates_tokens_on_every_architecture(model_type):
    """Same batch composition: each row's tokens are generate's; alone (batch 1) they are the same too."""
    model, enc = make_model(model_type), encoded()
    width = enc["input_ids"].shape[1]
    for ends in ([EOS], EARLY_ENDS):
        got = generate(model, enc["input_ids"], enc["attention_mask"], 20, ends, PAD)
        rows = rows_of(got.sequences, width, got.lengths)
        assert rows == reference(model, enc, ends)
        for r, n in enumerate(got.lengths):  # after its end a row holds padding, as generate's
            assert got.sequences[r, width + n:].eq(PAD).all()
        for prompt, row in zip(PROMPTS, rows):
            one = encoded([prompt])
            alone = generate(model, one["input_ids"], one["attention_mask"], 20, ends, PAD)
            assert rows_of(alone.sequences, one["input_ids"].shape[1], alone.lengths)[0] == row
    # the last call: rows ended at different steps, and no call held an ended row
    assert len(set(got.lengths)) > 1
    assert got.row_steps == got.useful_row_steps == sum(n - 1 for n in got.lengths)
    assert got.row_steps < len(PROMPTS) * got.steps


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_continuous_batching_gives_each_row_its_batch_one_tokens(model_type):
    """Two rows decode at once, prompts join as rows end: every row is what it would be decoded alone."""
    model, enc = make_model(model_type), encoded()
    width = enc["input_ids"].shape[1]
    ended = []
    got = generate(model, enc["input_ids"], enc["attention_mask"], 20, EARLY_ENDS, PAD, slots=2, admit_at=0.5,
                   progress=ended.append)
    assert sum(ended) == len(PROMPTS)
    for prompt, row in zip(PROMPTS, rows_of(got.sequences, width, got.lengths)):
        assert row == reference(model, encoded([prompt]), EARLY_ENDS)[0]
    assert got.row_steps <= 2 * got.steps


@pytest.mark.parametrize("model_type", ["llama", "gpt2", "gemma3_text", "opt"])
def test_ended_rows_may_wait_to_leave_and_unused_columns_go_with_them(model_type):
    """compact_at: ended rows stay until they are a share of the batch; their tokens never change a row's."""
    model = make_model(model_type)
    prompts = [p * k for p, k in zip(PROMPTS, (3, 1, 5, 1, 2))]  # very different lengths: leaving frees columns
    enc = encoded(prompts)
    got = generate(model, enc["input_ids"], enc["attention_mask"], 20, EARLY_ENDS, PAD, slots=4, admit_at=0.25,
                   compact_at=0.6)
    for prompt, row in zip(prompts, rows_of(got.sequences, enc["input_ids"].shape[1], got.lengths)):
        assert row == reference(model, encoded([prompt]), EARLY_ENDS)[0]
    assert got.useful_row_steps == sum(n - 1 for n in got.lengths) < got.row_steps


def test_continuous_batching_past_a_sliding_window():
    """Gemma 3's sliding-window layers (window 5 here) keep their window when rows of other lengths join."""
    import transformers as tf
    from tiny_models import _COMMON

    config = tf.Gemma3TextConfig(**{**CONFIGS["gemma3_text"][1], "sliding_window": 5}, **_COMMON)
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.2)
    enc = encoded()
    got = generate(model, enc["input_ids"], enc["attention_mask"], 16, [EOS, *range(40, 60)], PAD, slots=3,
                   admit_at=0.3)
    for prompt, row in zip(PROMPTS, rows_of(got.sequences, enc["input_ids"].shape[1], got.lengths)):
        assert row == reference(model, encoded([prompt]), [EOS, *range(40, 60)], 16)[0]
    assert max(got.lengths) + enc["input_ids"].shape[1] > 5


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_compact_decoding_in_bfloat16_gives_generates_tokens(model_type):
    model, enc = make_model(model_type).to(torch.bfloat16), encoded()
    got = generate(model, enc["input_ids"], enc["attention_mask"], 24, EARLY_ENDS, PAD)
    assert rows_of(got.sequences, enc["input_ids"].shape[1], got.lengths) == reference(model, enc, EARLY_ENDS, 24)


def test_stop_ends_rows_and_the_budget_ends_the_rest():
    model, enc = make_model("llama"), encoded()
    got = generate(model, enc["input_ids"], enc["attention_mask"], 6, [EOS], PAD,
                   stop=lambda rows: [len(r) >= 3 and r[0] % 2 == 0 for r in rows])
    width = enc["input_ids"].shape[1]
    for row, n in zip(rows_of(got.sequences, width, got.lengths), got.lengths):
        assert n == (3 if row[0] % 2 == 0 and EOS not in row[:3] else n) and n <= 6
    assert max(got.lengths) == got.sequences.shape[1] - width


def test_repeats_share_the_prompt_pass_and_greedy_repeats_agree():
    model, enc = make_model("qwen2"), encoded()
    calls = []
    with forward_hooks(pre=[(model.model, lambda mod, args: calls.append(1))]):
        three = generate(model, enc["input_ids"], enc["attention_mask"], 12, EARLY_ENDS, PAD, repeats=3)
    one = generate(model, enc["input_ids"], enc["attention_mask"], 12, EARLY_ENDS, PAD)
    width = enc["input_ids"].shape[1]
    rows3, rows1 = rows_of(three.sequences, width, three.lengths), rows_of(one.sequences, width, one.lengths)
    assert rows3 == [row for row in rows1 for _ in range(3)]
    assert len(calls) == 1 + three.steps  # one prompt pass for the 15 rows


def test_sampling_is_seeded_and_top_k_one_is_greedy():
    model, enc = make_model("llama"), encoded()
    ids, mask = enc["input_ids"], enc["attention_mask"]
    greedy = generate(model, ids, mask, 10, [EOS], PAD)
    top1 = generate(model, ids, mask, 10, [EOS], PAD, sampling=Sampling(0.7, 1, 1.0),
                    generator=torch.Generator().manual_seed(1))
    assert torch.equal(top1.sequences, greedy.sequences)

    def draw(seed):
        return generate(model, ids, mask, 10, [EOS], PAD, sampling=Sampling(1.0, 50, 0.9), repeats=2,
                        generator=torch.Generator().manual_seed(seed)).sequences

    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 50, 0.9), (0.7, 50, 0.9), (1.3, 10, 1.0), (1.0, 3, 0.5)])
def test_sampling_from_the_top_k_candidates_is_warps_distribution(temperature, top_k, top_p):
    sampling = Sampling(temperature, top_k, top_p)
    scores = torch.randn(8, 1000, generator=torch.Generator().manual_seed(top_k)) * 3
    probs, ids = sampling.candidates(scores)
    assert ids is not None and ids.shape == (8, 2 * top_k)
    full = torch.zeros_like(scores).scatter(1, ids, probs)
    torch.testing.assert_close(full, torch.softmax(sampling.warp(scores), dim=-1), rtol=1e-5, atol=1e-7)
    scores[:, :300] = scores.max() + 1  # 300 tied best scores: warp keeps them all, more than the candidates
    probs, ids = sampling.candidates(scores)
    assert ids is None
    torch.testing.assert_close(probs, torch.softmax(sampling.warp(scores), dim=-1))
    tokens = sampling.draw(torch.randn(4, 1000), torch.Generator().manual_seed(0))
    assert tokens.shape == (4,) and tokens.dtype == torch.long


def test_hooks_see_which_rows_each_call_holds():
    """active_rows() names each call's rows in the original batch; a row's activations are its batch-1 ones."""
    model, enc = make_model("llama"), encoded()
    seen: list[tuple[list[int], torch.Tensor]] = []

    def hook(mod, args, output):
        rows, total = active_rows()
        assert total == len(PROMPTS) and len(rows) == output.shape[0]
        seen.append((rows.tolist(), output[:, -1].clone()))

    down = model.model.layers[1].mlp.down_proj
    with forward_hooks(post=[(down, hook)]):
        got = generate(model, enc["input_ids"], enc["attention_mask"], 16, EARLY_ENDS, PAD)
    assert active_rows() is None
    assert [len(rows) for rows, _ in seen][-1] < len(PROMPTS)
    for r, prompt in enumerate(PROMPTS):
        one, alone = encoded([prompt]), []
        with forward_hooks(post=[(down, lambda mod, args, output: alone.append(output[0, -1].clone()))]):
            generate(model, one["input_ids"], one["attention_mask"], 16, EARLY_ENDS, PAD)
        mine = [values[rows.index(r)] for rows, values in seen if r in rows]
        assert len(mine) == len(alone) == got.lengths[r]
        for a, b in zip(mine, alone):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # padding changes sums slightly


def test_settings_the_decoder_does_not_implement_are_named():
    model = make_model("llama")
    assert unsupported(model) == []
    model.generation_config.repetition_penalty = 1.3
    assert unsupported(model) == ["repetition_penalty=1.3"]
    assert "num_beams=4" in unsupported(make_model("llama"), {"num_beams": 4})


# ---- hneuron-hf: decoding=compact (default) against decoding=hf ------------------------------------------

def lm(path, **kw):
    return HNeuronLM(pretrained=str(path), device="cpu", batch_size=4, dtype="float32", **kw)


STOPS = ("\n\n", *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")  # the byte model ends rows at letters


def requests(until=STOPS, **extra):
    args = {"until": list(until), "max_gen_toks": 14, "do_sample": False, **extra}
    prompts = PROMPTS + ["Q: Who wrote Hamlet?\nA:", "The sea is"]
    return [Instance("generate_until", {"q": p}, (p, dict(args)), i, metadata=("hn_t", i, 1))
            for i, p in enumerate(prompts)]


@pytest.fixture(scope="module")
def mask_path(tiny_llama_dir, tmp_path_factory):
    mask = NeuronMask.for_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir),
                                [Neuron(0, 3), Neuron(0, 17), Neuron(1, 30)], name=tiny_llama_dir.name)
    return str(mask.save(tmp_path_factory.mktemp("mask") / "m.hneurons.json"))


@pytest.mark.parametrize("scaling", [{}, {"alpha": 2.0, "scale_via": "fold"}, {"alpha": 0.0, "scale_via": "hook"}])
def test_hneuron_hf_compact_decoding_gives_the_hf_texts(tiny_llama_dir, mask_path, scaling):
    kw = {"mask": mask_path, **scaling} if scaling else {}
    compact, hf = lm(tiny_llama_dir, **kw), lm(tiny_llama_dir, decoding="hf", **kw)
    texts = compact.generate_until(requests())
    assert texts == hf.generate_until(requests())
    info, hf_info = compact.get_model_info()["hneuron_decoding"], hf.get_model_info()["hneuron_decoding"]
    assert info["mode"] == "compact" and info["useful_share"] == 1.0 and info["hf_path"] == {}
    assert hf_info["hf_path"] == {"decoding=hf": 2}  # two batches
    assert hf_info["useful_row_steps"] == info["useful_row_steps"] and hf_info["useful_share"] < 1.0
    assert hf_info["row_steps"] > info["row_steps"]


def test_detector_scores_are_the_same_under_both_decodings(tiny_llama_dir, tmp_path):
    from test_monitor import save_probe

    probe = save_probe(tmp_path, tiny_llama_dir.name)
    got = {}
    for decoding in ("compact", "hf"):
        texts = lm(tiny_llama_dir, detector=probe, decoding=decoding).generate_until(requests())
        got[decoding] = (list(texts), [monitor.score_of([t]).score for t in texts],
                         [monitor.score_of([t]).baselines for t in texts])
    assert got["compact"][0] == got["hf"][0]
    assert sum(s is not None for s in got["compact"][1]) >= 3
    for a, b in zip(got["compact"][1], got["hf"][1]):
        assert (a is None and b is None) or a == pytest.approx(b, abs=1e-6)
    assert sum(bool(b) for b in got["compact"][2]) >= 3  # the output-only baselines too
    for a, b in zip(got["compact"][2], got["hf"][2]):
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6) for k in a)


def test_sampling_requests_take_the_hf_path_and_say_so(tiny_llama_dir):
    model = lm(tiny_llama_dir)
    model.generate_until(requests(do_sample=True, temperature=0.7))
    assert model.get_model_info()["hneuron_decoding"]["hf_path"] == {"do_sample=True": 2}
    with pytest.raises(ModelArgsError, match="decoding must be one of"):
        lm(tiny_llama_dir, decoding="paged")


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_smollm2_compact_decoding_gives_generates_tokens(smollm2, dtype):
    """The real model on chat prompts, at the dtype the policy picks here and at float32."""
    from transformers import AutoTokenizer

    from hneuron_eval.harness.builtin_models import resolve_pretrained

    model = AutoModelForCausalLM.from_config(smollm2.config, dtype=dtype)
    model.load_state_dict(smollm2.state_dict())
    model.eval()
    tok = AutoTokenizer.from_pretrained(resolve_pretrained("smollm2-135m-instruct"))
    questions = ["Who wrote Hamlet?", "What is the capital of Australia?", "Which planet is known as the Red Planet?",
                 "In which year did the Berlin Wall fall?", "Who painted the Mona Lisa?", "What is 7 times 8?"]
    texts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
             for q in questions]
    enc = tok(texts, return_tensors="pt", padding=True, padding_side="left")
    ends = [tok.eos_token_id]
    ref = model.generate(**enc, max_new_tokens=24, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=ends)
    width = enc["input_ids"].shape[1]
    want = [r[:next((k + 1 for k, t in enumerate(r) if t in ends), len(r))] for r in ref[:, width:].tolist()]
    got = generate(model, enc["input_ids"], enc["attention_mask"], 24, ends, tok.pad_token_id)
    assert rows_of(got.sequences, width, got.lengths) == want
    assert got.row_steps < len(questions) * got.steps  # rows did leave the batch


def test_one_decoder_call_per_group_with_batch_size_rows_at_once(tiny_llama_dir, monkeypatch):
    """Continuous batching: HFLM's static batches are replaced by one call that keeps batch_size rows decoding."""
    from hneuron_eval.harness import lm_model

    calls = []
    real = lm_model.generate

    def spy(model, input_ids, *args, **kwargs):
        calls.append((input_ids.shape[0], kwargs["slots"]))
        return real(model, input_ids, *args, **kwargs)

    monkeypatch.setattr(lm_model, "generate", spy)
    model = lm(tiny_llama_dir)
    texts = model.generate_until(requests())
    assert calls == [(7, 4)] and model.batch_size_per_gpu == 4  # restored after the call
    assert texts == lm(tiny_llama_dir, decoding="hf").generate_until(requests())
