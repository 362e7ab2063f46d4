"""Data parallel on CPU: two ``lm_eval`` processes (gloo) give the same per-document results as one.

``accelerate launch --cpu --num_processes 2`` starts the processes through ``mpirun`` only
(``--mpirun_hostfile``); without it, it starts a single process. The test therefore starts the
two ranks (a) with ``torchrun`` plus ``ACCELERATE_USE_CPU=1`` (what ``--cpu`` sets) and (b) with
that very ``accelerate launch`` command run once per rank, with the Open MPI environment that
``mpirun`` gives each rank. lm-eval hands rank r the documents r, r+2, ... and gathers them on rank 0.
"""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from hneuron_eval.core.masks import Neuron, NeuronMask
from hneuron_eval.harness.lm_model import HNeuronLM

PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (2, 9), (4, 5), (6, 1), (8, 3)]
ROWS = [{"question": f"{a} plus {b}?", "choices": [str(a + b), str(a + b + 1), str(a * b)], "label": 0,
         "answer": str(a + b)} for a, b in PAIRS]
COMMON = """\
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
"""
MC_TASK = """task: hn_mp_mc
output_type: multiple_choice
doc_to_choice: "{{choices}}"
doc_to_target: "{{label}}"
metric_list:
  - metric: acc
"""
GEN_TASK = """task: hn_mp_gen
output_type: generate_until
doc_to_target: "{{answer}}"
generation_kwargs:
  until: ["\\n\\n"]
  max_gen_toks: 8
  do_sample: false
metric_list:
  - metric: exact_match
"""
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def setup(tiny_llama_dir, tmp_path_factory):
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("mp")
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    mask = NeuronMask.for_model(
        model, [Neuron(0, i) for i in range(0, 48, 3)] + [Neuron(1, i) for i in range(1, 48, 2)], name="tiny"
    ).save(root / "tiny.hneurons.json")
    data = root / "tiny.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS))
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / "mc.yaml").write_text(MC_TASK + COMMON.format(data=data))
    (tasks / "gen.yaml").write_text(GEN_TASK + COMMON.format(data=data))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(root / "hf"),
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    args = ["-m", "lm_eval", "--model", "hneuron-hf",
            "--model_args", f"pretrained={tiny_llama_dir},mask={mask},alpha=0,dtype=float32",
            "--tasks", "hn_mp_mc,hn_mp_gen", "--include_path", str(tasks), "--batch_size", "2", "--log_samples"]
    single = root / "single"
    proc = subprocess.run([sys.executable, *args, "--device", "cpu", "--output_path", str(single)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(root=root, env=env, args=args, mask=mask, single=per_doc(single))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def per_doc(out: Path) -> dict:
    """(task, doc_id) -> the logged responses and metric of that document."""
    docs = {}
    for f in out.rglob("samples_*.jsonl"):
        task = re.match(r"samples_(.+)_\d{4}-\d\d-\d\dT", f.name).group(1)
        for line in f.read_text().splitlines():
            s = json.loads(line)
            if task == "hn_mp_mc":  # one (log-likelihood, is_greedy) per choice
                docs[task, s["doc_id"]] = dict(ll=[float(r[0][0]) for r in s["resps"]],
                                               greedy=[r[0][1] for r in s["resps"]], acc=s["acc"])
            else:
                docs[task, s["doc_id"]] = dict(resps=s["resps"], filtered=s["filtered_resps"],
                                               exact_match=s["exact_match"])
    return docs


def launch(launcher: str, setup: dict, out: Path) -> str:
    port, args = free_port(), [*setup["args"], "--output_path", str(out)]
    if launcher == "torchrun":
        cmds = [([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                  "--master_port", str(port), *args], {"ACCELERATE_USE_CPU": "1"})]
    else:
        accelerate = [str(BIN / "accelerate"), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
                      "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
                      "--main_process_port", str(port), *args]
        cmds = [(accelerate, {"OMPI_COMM_WORLD_RANK": str(r), "OMPI_COMM_WORLD_SIZE": "2",
                              "OMPI_COMM_WORLD_LOCAL_RANK": str(r), "OMPI_COMM_WORLD_LOCAL_SIZE": "2"})
                for r in (0, 1)]
    procs = [subprocess.Popen(cmd, env={**setup["env"], **extra}, cwd=setup["root"], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for cmd, extra in cmds]
    try:
        logs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    return "\n".join(logs)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_processes_match_one(setup, tiny_llama_dir, launcher):
    out = setup["root"] / f"two-{launcher}"
    log = launch(launcher, setup, out)
    for task in ("hn_mp_mc", "hn_mp_gen"):  # each rank evaluated its own shard
        assert f"Building contexts for {task} on rank 0" in log and f"Building contexts for {task} on rank 1" in log
    results = list(out.rglob("results_*.json"))
    assert len(results) == 1  # written once, by rank 0
    result = json.loads(results[0].read_text())
    assert result["n-samples"]["hn_mp_mc"]["effective"] == len(ROWS)
    recorded = result["config"]["hneuron"]
    assert recorded["alpha"] == 0.0 and recorded["mask_sha256"] == NeuronMask.load(setup["mask"]).sha256()

    single, two = setup["single"], per_doc(out)
    assert sorted(two) == sorted(single) and len(two) == 2 * len(ROWS)
    for key, doc in two.items():
        if "ll" in doc:  # float tolerance in case CPU kernels round differently for other batch shapes
            assert doc["ll"] == pytest.approx(single[key]["ll"], rel=0, abs=1e-5), key
            assert (doc["greedy"], doc["acc"]) == (single[key]["greedy"], single[key]["acc"]), key
        else:
            assert doc == single[key], key

    # both ranks applied the mask: every document's log-likelihoods are the masked model's, not the plain one's
    reqs = [Instance("loglikelihood", row, (f"Question: {row['question']}\nAnswer:", " " + c), i)
            for row in ROWS for i, c in enumerate(row["choices"])]
    kw = dict(pretrained=str(tiny_llama_dir), device="cpu", batch_size=2, dtype="float32")
    masked = [ll for ll, _ in HNeuronLM(**kw, mask=str(setup["mask"]), alpha=0).loglikelihood(reqs)]
    plain = [ll for ll, _ in HFLM(**kw).loglikelihood(reqs)]
    for doc_id in range(len(ROWS)):  # even doc ids: rank 0, odd: rank 1
        got, span = two["hn_mp_mc", doc_id]["ll"], slice(3 * doc_id, 3 * doc_id + 3)
        assert got == pytest.approx(masked[span], abs=1e-5) and got != pytest.approx(plain[span], abs=1e-3)
