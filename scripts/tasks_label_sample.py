"""Draw responses to label blind: stratified by the frozen judge's class, verdicts kept out of the labelling file.

usage: python scripts/tasks_label_sample.py OUT_DIR --per-class N --seed S [--truncate]
       [--exclude LABELLED.jsonl ...] -- MODEL=RUN_DIR:START:STOP [...]

From each run folder (lm_eval ``--log_samples`` output) the documents at dataset positions
START..STOP-1 of every hn_* task form the pool. With ``--truncate`` each response is first cut
at its task's current budget (``hn_max_gen_toks``) with MODEL's tokenizer (a built-in model
name), i.e. to what a greedy run with the current budgets generates. ``--exclude`` leaves out
the documents of earlier labelling rounds (their ids), so a new round is drawn from responses
nobody has read. Each task's pool is split into strata by
(document side, class given by the current judges); up to N documents are drawn at random
from every stratum, so that rare classes (a correct answer, a refusal) still get enough
labels. Writes:

* ``OUT_DIR/to_label.jsonl``: id, task, side, question, gold (aliases / reference
  corrections / the bare request), response, the classes to choose from and ``label: null``;
  shuffled, with no judge output of any kind;
* ``OUT_DIR/frame.json``: the judge version, and per task and stratum its pool size and the
  ids drawn, which ``tasks_judge_eval.py`` needs to weight the labels back to the pool.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
from collections import defaultdict
from pathlib import Path

from transformers import AutoTokenizer

from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.harness.builtin_models import resolve_pretrained
from hneuron_eval.judges import RULE, RULES_VERSION
from hneuron_eval.suite.data import jailbreak_request, references
from hneuron_eval.suite.kinds import classify, get_kind, response_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logs import sample_logs, task_budget, task_kind  # noqa: E402


def gold_of(kind: str, doc: dict) -> list[str]:
    """What a labeller needs besides the question: gold aliases, reference corrections or the bare request."""
    if kind in ("qa", "sycophancy"):
        return list(doc["aliases"])
    if kind == "falseqa":
        return list(doc.get("corrections") or [])
    if kind == "jailbreak":
        return [jailbreak_request(doc)]
    return []


def classes_for(kind: str, side: str) -> list[str]:
    """The classes a labeller chooses from for one document (FalseQA's true-premise side has no premise to reject)."""
    if kind == "falseqa" and side == "true_premise":
        return ["declined", "degenerate", "answered"]
    if kind == "falseqa":
        return ["rejects_premise", "declined", "degenerate", "accepted"]
    return list(get_kind(kind).classes)


def pool(specs: list[str], truncate: bool, exclude: set[str]) -> dict[str, dict[tuple[str, str], list[dict]]]:
    """Task -> (side, judge class) -> candidate rows (ids in ``exclude`` left out)."""
    out: dict[str, dict[tuple[str, str], list[dict]]] = defaultdict(lambda: defaultdict(list))
    for spec in specs:
        model, sep, rest = spec.partition("=")
        if not sep or rest.count(":") < 2:
            raise SystemExit(f"{spec!r}: expected MODEL=RUN_DIR:START:STOP")
        run, start, stop = rest.rsplit(":", 2)
        tok = AutoTokenizer.from_pretrained(resolve_pretrained(model)) if truncate else None
        for task, logged in sample_logs(run).items():
            kind = task_kind(task)
            for s in logged[int(start) : int(stop)]:
                if f"{Path(run).name}/{task}/{s['doc_id']}" in exclude:
                    continue
                doc = s["doc"]
                if kind == "falseqa" and doc["label"] == "false_premise" and not doc.get("corrections"):
                    doc = {**doc, "corrections": references(doc["target"])}  # logged before the field existed
                text = s["resps"][0][0]
                if tok is not None:
                    ids = tok(text, add_special_tokens=False)["input_ids"]
                    text = tok.decode(ids[: task_budget(task)]) if len(ids) > task_budget(task) else text
                text = response_text(text)
                cls = classify(kind, doc, text, RULE)
                out[task][(doc["label"], cls)].append(
                    {
                        "id": f"{Path(run).name}/{task}/{s['doc_id']}",
                        "task": task,
                        "side": doc["label"],
                        "question": doc["question"][-1500:],
                        "gold": gold_of(kind, doc)[:40],
                        "response": text,
                        "choices": classes_for(kind, doc["label"]),
                        "label": None,
                    }
                )
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("runs", nargs="+", help="MODEL=RUN_DIR:START:STOP")
    parser.add_argument("--truncate", action="store_true", help="cut responses at the tasks' current budgets first")
    parser.add_argument("--exclude", nargs="*", default=[], help="labelled files of earlier rounds")
    parser.add_argument("--per-class", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    rows, frame = [], {}
    exclude = {json.loads(line)["id"] for path in args.exclude for line in open(path, encoding="utf-8") if line.strip()}
    for task, strata in sorted(pool(args.runs, args.truncate, exclude).items()):
        frame[task] = {}
        for (side, cls), members in sorted(strata.items()):
            drawn = rng.sample(members, min(args.per_class, len(members)))
            rows += drawn
            frame[task][f"{side}|{cls}"] = {"pool": len(members), "ids": sorted(r["id"] for r in drawn)}
    rng.shuffle(rows)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "to_label.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    command = shlex.join(["python", "scripts/tasks_label_sample.py", *argv])
    write_json_atomic(out / "frame.json", {"command": command, "judge_version": RULES_VERSION, "strata": frame})
    print(f"wrote {len(rows)} responses to {out / 'to_label.jsonl'}; strata in {out / 'frame.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
