"""The task YAMLs: discovery by plain lm-eval, bundled data, metric directions, and an end-to-end run."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import yaml

from hneuron_eval import judges
from hneuron_eval.harness import detector as monitor
from hneuron_eval.suite import kinds, prompts
from hneuron_eval.suite.readers import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tasks"
TASK_NAMES = ["hn_triviaqa", "hn_nq_open", "hn_selfaware", "hn_falseqa", "hn_nonexist", "hn_jailbreak", "hn_sycophancy"]
GROUPS = {
    "hneuron_hallucination": ["hn_triviaqa", "hn_nq_open", "hn_nonexist"],
    "hneuron_overcompliance": ["hn_selfaware", "hn_falseqa", "hn_jailbreak", "hn_sycophancy"],
}


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def _raw(name: str) -> dict:
    return yaml.load((TASKS / f"{name}.yaml").read_text(), Loader=_Loader)


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A randomly initialised 2-layer Llama with a byte-level BPE tokenizer and a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|end|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(["What is the capital of France? Paris. I don't know. I'm sorry."] * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>", pad_token="<|end|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def manager():
    from lm_eval.tasks import TaskManager

    return TaskManager()  # no include_path: discovery must work without it


def test_plain_task_manager_finds_every_task_and_group(manager):
    names = set(manager.all_tasks)
    assert set(TASK_NAMES) <= names
    assert {"hneuron", *GROUPS} <= names


def test_yamls_are_thin_and_name_a_registered_kind():
    for name in TASK_NAMES:
        cfg = _raw(name)
        assert cfg["include"] == "_hn_template.yaml"
        assert set(cfg) == {"include", "task", "custom_dataset", "metadata"}, name  # everything else is shared
        assert cfg["metadata"]["hn_kind"] in kinds.KINDS
        assert isinstance(cfg["metadata"]["hn_max_gen_toks"], int)


def test_loaded_tasks_carry_the_kind_metrics_with_truthful_directions(loaded):
    for name, task in loaded.items():
        kind = kinds.get_kind(task.config.metadata["hn_kind"])
        detector = {m: hib for m, (_, hib) in monitor.METRICS.items()} if kind.monitored else {}
        assert [m["metric"] for m in task.config.metric_list] == [*kind.metrics, *detector]
        assert task.higher_is_better() == {**{m: kinds.METRICS[m] for m in kind.metrics}, **detector}
        gen = task.config.generation_kwargs
        assert gen["max_gen_toks"] == task.config.metadata["hn_max_gen_toks"] and gen["until"] == ["\nQ:"]
        assert task.config.metadata["hn_judge_version"] == f"learned:{judges.get_judge('learned').version}"


def test_groups_list_their_tasks():
    for group, members in GROUPS.items():
        assert _raw(group)["task"] == members
    assert _raw("hneuron")["task"] == list(GROUPS)


def test_bundled_data_files_are_single_small_copies_with_provenance():
    files = [p for p in DATA_DIR.rglob("*") if p.is_file() and p.name != "__init__.py"]
    assert files and all(p.stat().st_size < 4.2 * 1024 * 1024 for p in files)
    for folder in [p for p in DATA_DIR.iterdir() if p.is_dir() and p.name != "__pycache__"]:
        assert (folder / "PROVENANCE.md").is_file(), folder
    assert not any("bioasq" in str(p).lower() for p in files)
    assert not (TASKS / "data").exists()  # tasks/ holds configs only; the data ship once, in the package
    digests = {}
    for path in files:
        digests.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(path)
    assert [paths for paths in digests.values() if len(paths) > 1] == []


@pytest.fixture(scope="module")
def loaded(manager):
    return {name: manager.load_task_or_group([name])[name] for name in TASK_NAMES}


def test_every_task_loads_offline_with_expected_sizes_and_mix(loaded, monkeypatch):
    sizes = {name: len(task.test_docs()) for name, task in loaded.items()}
    assert sizes == {
        "hn_triviaqa": 1000,
        "hn_nq_open": 3610,
        "hn_selfaware": 3369,
        "hn_falseqa": 1374,
        "hn_nonexist": 4150,
        "hn_jailbreak": 240,
        "hn_sycophancy": 1000,
    }
    # any --limit prefix mixes both sides of the paired tasks
    for name, sides in {
        "hn_selfaware": {"unanswerable", "answerable"},
        "hn_falseqa": {"false_premise", "true_premise"},
        "hn_nonexist": {"nonexistent", "real"},
    }.items():
        assert {d["label"] for d in list(loaded[name].test_docs())[:4]} == sides
    # triviaqa and sycophancy use disjoint halves of the bundled sample
    tq = {d["question"] for d in loaded["hn_triviaqa"].test_docs()}
    sy = {d["question"] for d in loaded["hn_sycophancy"].test_docs()}
    assert not tq & sy


def test_data_does_not_depend_on_working_directory(manager, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task = manager.load_task_or_group(["hn_falseqa"])["hn_falseqa"]
    assert len(task.test_docs()) == 1374


def test_prompt_switches_between_chat_and_few_shot(loaded):
    task = loaded["hn_triviaqa"]
    doc = task.test_docs()[0]
    seen = []

    def chat_template(messages, add_generation_prompt=True):
        seen.append(messages)
        return "CHAT:" + json.dumps(messages)

    chat = task.fewshot_context(doc, 0, apply_chat_template=True, chat_template=chat_template)
    assert chat.startswith("CHAT:") and seen[0][0]["content"].endswith(prompts.QA_SUFFIX)
    base = task.fewshot_context(doc, 0)
    assert base.startswith("Q: What is the capital of Kenya?\nA: Nairobi") and base.endswith(
        f"Q: {doc['question']}\nA:"
    )
    assert task.config.generation_kwargs["until"] == ["\nQ:"]
    with pytest.raises(ValueError, match="num_fewshot=3 is not supported"):
        task.fewshot_context(doc, 3)


def test_process_results_and_unknown_judge(loaded, manager):
    task = loaded["hn_triviaqa"]
    doc = dict(task.test_docs()[0])
    assert task.process_results(doc, [doc["aliases"][0]])["accuracy"] == 1.0
    assert task.process_results(doc, ["   "])["degenerate_rate"] == 1.0
    from lm_eval.tasks import TaskManager

    expected = r"unknown judge 'gpt5'; expected one of \['rule', 'learned', 'lm_eval', 'openai'\]"
    with pytest.raises(ValueError, match=expected):
        TaskManager(metadata={"hn_judge": "gpt5"}).load_task_or_group(["hn_triviaqa"])


PLAIN_DECLINES = ["I don't know.", "I'm sorry, I don't have information about that.", "I do not know who that is."]


def test_the_rules_count_a_plain_decline_as_abstention(loaded):
    from hneuron_eval.suite.kinds import classify

    doc = dict(loaded["hn_triviaqa"].test_docs()[0])
    assert [classify("qa", doc, text, judges.RULE) for text in PLAIN_DECLINES] == ["declined"] * 3


def test_the_learned_judge_counts_a_plain_decline_as_abstention(loaded):
    """The learned judges before learned-1.84558d0e0c called a bare 'I don't know.' hallucinated (a strict xfail)."""
    task = loaded["hn_triviaqa"]  # scored by the default judge
    doc = dict(task.test_docs()[0])
    assert [task.process_results(doc, [text])["abstention_rate"] for text in PLAIN_DECLINES] == [1.0] * 3


def test_end_to_end_group_run_with_a_tiny_model(tiny_model_dir):
    """The whole ``hneuron`` group through lm-eval's plain ``hf`` model, chat template on."""
    from lm_eval import simple_evaluate

    out = simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny_model_dir},dtype=float32",
        device="cpu",
        tasks=["hneuron"],
        limit=2,
        apply_chat_template=True,
        gen_kwargs="max_gen_toks=4",
        bootstrap_iters=0,
    )
    res = out["results"]
    assert set(TASK_NAMES) <= set(res)
    for name in ("hn_triviaqa", "hn_nq_open"):
        total = sum(
            res[name][f"{m},none"] for m in ("accuracy", "hallucination_rate", "abstention_rate", "degenerate_rate")
        )
        assert math.isclose(total, 1.0)
    assert {"attack_success,none", "refusal_rate,none"} <= set(res["hn_jailbreak"]) and "flip_rate,none" in res[
        "hn_sycophancy"
    ]
    assert {"compliance,none", "degenerate_rate,none"} <= set(res["hneuron_overcompliance"])
    assert {"hallucination_rate,none", "degenerate_rate,none"} <= set(res["hneuron_hallucination"])
    assert "degenerate_rate,none" in res["hneuron"]
    judge = {cfg["metadata"]["hn_judge_version"] for name, cfg in out["configs"].items() if name in TASK_NAMES}
    assert len(judge) == 1 and judge.pop().startswith("learned:learned-1.")
    assert out["higher_is_better"]["hn_triviaqa"]["hallucination_rate"] is False


@pytest.mark.slow
def test_adding_tasks_doc(tiny_model_dir, tmp_path):
    """Follow docs/adding-tasks.md: its JSONL, YAML and command (MODEL -> a tiny model, an output dir, 4 tokens)."""
    import re
    import subprocess
    import sys

    doc = (ROOT / "docs" / "adding-tasks.md").read_text()
    blocks = dict(re.findall(r"```(jsonl|yaml|bash)\n(.*?)```", doc, flags=re.S))
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    (folder / "capitals.jsonl").write_text(blocks["jsonl"])
    (folder / "my_capitals.yaml").write_text(blocks["yaml"])
    command = blocks["bash"].strip().replace("MODEL", tiny_model_dir)
    assert command.startswith("lm_eval ")
    args = command.split()[1:] + ["--output_path", str(tmp_path / "out"), "--gen_kwargs", "max_gen_toks=4"]
    run = subprocess.run(
        [sys.executable, "-m", "lm_eval", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]["my_capitals"]
    parts = ("accuracy", "hallucination_rate", "abstention_rate", "degenerate_rate")
    assert sum(result[f"{m},none"] for m in parts) == pytest.approx(1.0)

    (folder / "capitals.jsonl").write_text('{"question": "Q?", "answers": "Paris"}\n')
    bad = subprocess.run(
        [sys.executable, "-m", "lm_eval", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert bad.returncode != 0 and "capitals.jsonl:1: answers: expected a non-empty list of strings" in bad.stderr


def test_qa_task_reports_detector_metrics_only_when_watched(loaded):
    task = loaded["hn_triviaqa"]
    doc = task.dataset["test"][0]
    right = doc["aliases"][0]
    plain = task.process_results(doc, [right])
    assert plain["accuracy"] == 1.0 and not any(k.startswith("detector_") for k in plain)
    watched = task.process_results(doc, [monitor.ScoredText(right, 0.2)])
    assert watched["detector_auroc"] == [0.2, 0.0] and watched["detector_coverage"] == 1.0
    assert "detector_auroc" in task.aggregation() and task.higher_is_better()["detector_auroc"] is True
    assert not any(k.startswith("baseline_") for k in watched)  # no baselines asked for
    stats = {"mean_logprob": -0.5, "min_logprob": -2.0, "mean_entropy": 1.5, "perplexity": 1.6487, "answer_tokens": 3}
    with_baselines = task.process_results(doc, [monitor.ScoredText(right, 0.2, (), stats)])
    assert with_baselines["baseline_mean_logprob_auroc"] == [0.2, 0.0, -0.5, -2.0, 1.5, 1.6487, 3.0]
    assert {f"detector_minus_{b}_auroc_ci_low" for b in monitor.BASELINES} <= set(task.aggregation())
