"""Draw responses to label blind from lm-eval run folders, split by question into train, dev and a sealed test.

usage: python scripts/judges/draw.py OUT_DIR --seed S --quota train=N,dev=N,test=N
       [--shares test=F,dev=F,train=F] [--exclude LABELLED.jsonl ...] [--train-only LABELLED.jsonl ...]
       [--chunks DIR --chunk-size N] -- RUN_ROOT ...

Every ``results_*.json`` under a RUN_ROOT (``lm_eval --log_samples`` output, sweep
configurations included) adds its logged ``hn_*`` responses to the pool, one per distinct
(task, question, response). Each question goes to one split by a hash of (task, question):
by default 35% test, 15% dev, 50% train (``--shares test=1`` puts every question in test: a
round drawn from fresh questions only, for a new sealed test); questions of ``--train-only``
files (labels read while the rules were written) always go to train, and ids in ``--exclude``
files are left out. Within a split the pool is cut into strata (task, side, class given by
the rule judge, arm: none / hneurons / random) and up to the split's quota is drawn at random
from each, so rare classes get labels.
Writes ``OUT_DIR/<split>/drawn.jsonl`` (rows with their document and stratum weight, no judge
output) and ``OUT_DIR/frame.json`` (command, rule version, pool size and drawn ids per
stratum). With ``--chunks``, the blind rows (``labels.BLIND_FIELDS``) go to numbered chunk
files for the labellers, shuffled; that folder is recorded as ``LABELLER_DIR/in`` (``merge.py``
copies it into the round's ``labellers/in/``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shlex
from collections import defaultdict
from pathlib import Path

from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.core.run_kind import RunKind
from hneuron_eval.judges import RULE, RULES_VERSION
from hneuron_eval.judges.answers import normalize_answer
from hneuron_eval.judges.labels import QUESTION_CHARS, blind_row, classes_for, gold_of, task_kind
from hneuron_eval.report.runs import read_run
from hneuron_eval.suite.data import references
from hneuron_eval.suite.kinds import classify, response_text

ROOT = Path(__file__).resolve().parents[2]
SHARES = {"test": 0.35, "dev": 0.15, "train": 0.5}

# the strata names the recorded draws used (before run kinds had their own names)
ARMS = {RunKind.BASELINE: "none", RunKind.HNEURONS: "hneurons", RunKind.CONTROL: "random"}


def split_of(task: str, question: str, shares: dict[str, float] = SHARES) -> str:
    """The split of a question: a stable hash of (task, normalised question) cut at the splits' shares."""
    digest = hashlib.sha256(f"{task}\0{normalize_answer(question)}".encode()).digest()
    u, top = int.from_bytes(digest[:8], "big") / 2**64, 0.0
    for name in ("test", "dev", "train"):
        top += shares.get(name, 0.0)
        if u < top:
            return name
    return "train"


def pool(roots: list[str], exclude: set[str]) -> list[dict]:
    """Every distinct logged response under ``roots`` (ids in ``exclude`` left out), with its stratum parts."""
    rows, seen = [], set()
    for root in roots:
        for results in sorted(Path(root).rglob("results_*.json")):
            run = read_run(results)
            if run is None:
                continue
            folder = results.parent.resolve().relative_to(ROOT).as_posix()
            for samples in sorted(results.parent.glob("samples_hn_*.jsonl")):
                task = samples.name[len("samples_"):].rsplit("_", 1)[0]
                kind = task_kind(task)
                for line in samples.read_text(encoding="utf-8").split("\n"):
                    if not line.strip():
                        continue
                    s = json.loads(line)
                    row_id = f"{folder}/{task}/{s['doc_id']}"
                    doc = s["doc"]
                    if kind == "falseqa" and doc["label"] == "false_premise" and not doc.get("corrections"):
                        doc = {**doc, "corrections": references(doc["target"])}
                    text = response_text(s["resps"][0])
                    key = (task, doc["question"], text)
                    if row_id in exclude or key in seen:
                        continue
                    seen.add(key)
                    rows.append({
                        "id": row_id, "task": task, "side": doc["label"],
                        "question": doc["question"][-QUESTION_CHARS:], "gold": gold_of(kind, doc)[:40],
                        "response": text, "choices": classes_for(kind, doc["label"]), "doc": doc,
                        "model": run.model, "arm": ARMS[run.intervention.kind], "alpha": run.intervention.alpha,
                        "rule_class": classify(kind, doc, text, RULE),
                    })
    return rows


def _recorded(argv: list[str], chunks: str | None) -> str:
    """The command as run, with the labellers' scratch folder (outside the checkout) named by its role."""
    shown = [("LABELLER_DIR/in" if chunks and arg == chunks else arg) for arg in argv]
    return shlex.join(["python", "scripts/judges/draw.py", *shown])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--quota", required=True, help="train=N,dev=N,test=N: most rows drawn per stratum")
    parser.add_argument("--shares", default="test=0.35,dev=0.15,train=0.5", help="share of questions per split")
    parser.add_argument("--exclude", nargs="*", default=[], help="labelled or drawn files whose ids are left out")
    parser.add_argument("--train-only", nargs="*", default=[], help="labelled files whose questions stay in train")
    parser.add_argument("--chunks", help="folder for the labellers' chunk files")
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--chunk-prefix", default="chunk")
    args = parser.parse_args(argv)
    quota = {k: int(v) for k, v in (item.split("=") for item in args.quota.split(","))}
    shares = {k: float(v) for k, v in (item.split("=") for item in args.shares.split(","))}
    if any(k not in SHARES for k in [*quota, *shares]) or abs(sum(shares.values()) - 1) > 1e-9:
        raise SystemExit(f"--quota/--shares: splits are test, dev, train and the shares sum to 1; got {quota} {shares}")
    rng = random.Random(args.seed)

    def ids(paths: list[str]) -> list[dict]:
        return [json.loads(line) for p in paths for line in open(p, encoding="utf-8") if line.strip()]

    exclude = {r["id"] for r in ids(args.exclude)}
    forced = {(r["task"], normalize_answer(r["question"])) for r in ids(args.train_only)}
    strata: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in pool(args.roots, exclude):
        split = "train" if (row["task"], normalize_answer(row["doc"]["question"][-QUESTION_CHARS:])) in forced \
            else split_of(row["task"], row["doc"]["question"], shares)
        key = "|".join((row["task"], row["side"], row.pop("rule_class"), row["arm"]))
        strata[split][key].append(row)
    frame: dict = {"command": _recorded(argv, args.chunks), "judge_version": RULES_VERSION, "splits": {}}
    blind = []
    out = Path(args.out_dir)
    for split in ("train", "dev", "test"):
        drawn, frame["splits"][split] = [], {}
        for key, members in sorted(strata[split].items()):
            picked = rng.sample(members, min(quota.get(split, 0), len(members)))
            if not picked:
                continue
            weight = len(members) / len(picked)
            drawn += [{**r, "split": split, "stratum": key, "weight": weight} for r in picked]
            frame["splits"][split][key] = {"pool": len(members), "ids": sorted(r["id"] for r in picked)}
        rng.shuffle(drawn)
        if drawn:  # a split with no questions (--shares) gets no file
            write_text_atomic(out / split / "drawn.jsonl",
                              "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in drawn))
        blind += [blind_row(r) for r in drawn]
        print(f"{split}: {len(drawn)} rows from {sum(len(m) for m in strata[split].values())} in the pool")
    write_json_atomic(out / "frame.json", frame)
    if args.chunks:
        rng.shuffle(blind)
        for i in range(0, len(blind), args.chunk_size):
            part = blind[i:i + args.chunk_size]
            path = Path(args.chunks) / f"{args.chunk_prefix}{i // args.chunk_size:02d}.jsonl"
            write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
        print(f"{len(blind)} blind rows in {args.chunks}")


if __name__ == "__main__":
    from _cli import run  # scripts/judges/ is on sys.path when a script runs

    run(main)
