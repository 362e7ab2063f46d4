"""Fit the learned judge on the train and dev splits (choices by question-grouped CV), save it (JSON + npz).

usage: python scripts/judges/train.py OUT_DIR --train FILE ... --dev FILE ... [--extra-train FILE ...]
       [--previous RUNS_ROOT] [--seed S] [--pooled CLASS,...] [--override-margins M,...]
       [--state-groups GROUP,... [--state-layer L] [--state-dtype D]]

--train/--dev are labelled files (``labels.read_labels``); together they are the CV rows of every
group (5 folds grouped by question). --extra-train files are labels of earlier rounds
(``results/judges/heldout*/labelled.jsonl``, read while the rules were written): they only ever
train, and their rows lack the logged document, which is looked up by id in the run folders under
--previous. --pooled names the classes that get a pooled model across tasks (default: the
package's ``POOLED``; an empty string for none); --override-margins the pooled margins CV may choose
as a group's override threshold (default ``OVERRIDE_MARGINS``; an empty string for no overrides).
--state-groups names the groups (``learned.group_of``: selfaware, qa, falseqa/true_premise, ...) whose
model also reads each response's SmolLM2 state at --state-layer, the model run in --state-dtype
(``judges/states.py``).
The sealed test is never read here. Writes OUT_DIR/judge.json and OUT_DIR/judge.npz and prints,
per group, what the CV chose.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from hneuron_eval.core.provenance import utc_now
from hneuron_eval.judges.labels import Labelled, read_many, task_kind
from hneuron_eval.judges.learned import OVERRIDE_MARGINS, POOLED, LearnedJudge, fit_judge
from hneuron_eval.judges.states import DTYPES, StateSpec
from hneuron_eval.suite.data import references


def earlier_rounds(paths: list[str], runs_root: Path) -> list[Labelled]:
    """Rows of the earlier rounds with their logged documents (looked up by run folder, task and doc id)."""
    docs: dict[str, dict] = {}
    for samples in runs_root.rglob("samples_hn_*.jsonl"):
        run = samples.relative_to(runs_root).parts[0]
        task = samples.name[len("samples_"):].rsplit("_", 1)[0]
        for line in samples.read_text(encoding="utf-8").split("\n"):
            if line.strip():
                s = json.loads(line)
                docs[f"{run}/{task}/{s['doc_id']}"] = s["doc"]
    out = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            doc = dict(docs[row["id"]])
            if task_kind(row["task"]) == "falseqa" and doc["label"] == "false_premise" and not doc.get("corrections"):
                doc["corrections"] = references(doc["target"])
            out.append(Labelled(row["id"], row["task"], row["side"], row["response"], row["label"], doc))
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--dev", nargs="+", required=True)
    parser.add_argument("--extra-train", nargs="*", default=[])
    parser.add_argument("--previous", default="results/tasks/previous")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pooled", default=",".join(POOLED), help="classes with a pooled model, comma-separated")
    parser.add_argument("--override-margins", default=",".join(map(str, OVERRIDE_MARGINS)),
                        help="pooled margins tried as override thresholds, comma-separated")
    parser.add_argument("--state-groups", default="", help="groups that read model states, comma-separated")
    parser.add_argument("--state-layer", type=int, default=StateSpec.layer)
    parser.add_argument("--state-dtype", default=StateSpec.dtype, choices=DTYPES)
    args = parser.parse_args(argv)
    state_groups = tuple(g for g in args.state_groups.split(",") if g)
    pooled = tuple(c for c in args.pooled.split(",") if c)
    try:
        try:
            margins = tuple(float(m) for m in args.override_margins.split(",") if m)
        except ValueError:
            raise ValueError(f"--override-margins: expected numbers, got {args.override_margins!r}") from None
        rows = read_many([*args.train, *args.dev])
        judge = fit_judge(rows, earlier_rounds(args.extra_train, Path(args.previous)), seed=args.seed,
                          pooled_classes=pooled, override_margins=margins,
                          states=StateSpec(layer=args.state_layer, dtype=args.state_dtype) if state_groups else None,
                          state_groups=state_groups)
    except ValueError as exc:  # a bad label file or option: one line, nothing written
        raise SystemExit(f"train.py: {exc}") from None
    judge.info.update({"command": shlex.join(["python", "scripts/judges/train.py", *argv]), "created": utc_now(),
                       "train_files": args.train + args.extra_train, "dev_files": args.dev})
    judge.save(args.out_dir)
    saved = LearnedJudge.load(args.out_dir)
    print(f"saved {saved.version} to {args.out_dir}")
    for group, info in judge.info["groups"].items():
        best = max(info["cv_agreement"].values(), default=float("nan"))
        print(f"  {group:24s} rows {info['rows']:4d} (+{info['extra_train_rows']} train-only)  CV agreement: rules "
              f"{info['cv_agreement_rules']:.3f}, best model {best:.3f}, with the rules' "
              f"{'/'.join(info['keep_rules']) or 'nothing'} kept and overrides {info['override'] or 'none'} "
              f"{info['cv_agreement_chosen']:.3f} -> {info['use']}")


if __name__ == "__main__":
    main(sys.argv[1:])
