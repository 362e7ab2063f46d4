"""Pick, per task, documents whose question no labelled file of an earlier round holds (a new sealed test).

usage: python scripts/judges/fresh_samples.py OUT.json --seed S --per-task hn_triviaqa=40,... --seen FILE ...
       [--min-index N] [--min-index-for task=N,...]

Every ``--seen`` file is a JSONL of rows with ``task`` and ``question`` (labelled, drawn or
to-label files of earlier rounds). A document is eligible when its (task, normalised question),
as ``draw.py`` keys it, is in none of them and its index is at least --min-index (the first
documents of every task were read while the rules were written; --min-index-for sets it per task,
for a task whose later documents are all read); N eligible documents per task are drawn at random.
Writes OUT.json, a ``--samples`` mapping for ``hneuron-eval sweep``, with this command under
``_command`` and the counts under ``_counts`` (``sweep`` drops keys starting with ``_``).
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
from pathlib import Path

from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.judges.answers import normalize_answer
from hneuron_eval.judges.labels import QUESTION_CHARS


def seen_keys(paths: list[str]) -> set[tuple[str, str]]:
    """(task, normalised question) of every row of the given files."""
    keys = set()
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").split("\n"):
            if line.strip():
                row = json.loads(line)
                keys.add((row["task"], normalize_answer(row["question"][-QUESTION_CHARS:])))
    return keys


def task_numbers(option: str, text: str) -> dict[str, int]:
    """``task=N,...`` as a mapping; anything else is one line naming the option and the item."""
    out = {}
    for item in filter(None, text.split(",")):
        task, _, number = item.partition("=")
        if not task or not number.isdigit():
            raise SystemExit(f"fresh_samples.py: {option}: expected task=N, got {item!r}")
        out[task] = int(number)
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--per-task", required=True, help="task=N,...: documents drawn per task")
    parser.add_argument("--seen", nargs="+", required=True, help="JSONL files of questions already read")
    parser.add_argument("--min-index", type=int, default=0, help="documents before this index are never drawn")
    parser.add_argument("--min-index-for", default="", help="task=N,...: --min-index for these tasks")
    args = parser.parse_args(argv)
    from lm_eval.tasks import TaskManager

    wanted = task_numbers("--per-task", args.per_task)
    floor = task_numbers("--min-index-for", args.min_index_for)
    seen = seen_keys(args.seen)
    rng = random.Random(args.seed)
    counts: dict[str, dict[str, int]] = {}
    chosen: dict = {"_command": shlex.join(["python", "scripts/judges/fresh_samples.py", *argv]), "_counts": counts}
    for task, obj in sorted(TaskManager().load(sorted(wanted))["tasks"].items()):
        docs = list(obj.eval_docs)
        eligible = [i for i, d in enumerate(docs) if i >= floor.get(task, args.min_index)
                    and (task, normalize_answer(d["question"][-QUESTION_CHARS:])) not in seen]
        if len(eligible) < wanted[task]:
            raise SystemExit(f"{task}: only {len(eligible)} documents have unread questions, {wanted[task]} wanted")
        chosen[task] = sorted(rng.sample(eligible, wanted[task]))
        counts[task] = {"documents": len(docs), "unread": len(eligible), "drawn": wanted[task],
                        "min_index": floor.get(task, args.min_index)}
        print(f"{task}: {wanted[task]} of {len(eligible)} unread documents (of {len(docs)})")
    write_json_atomic(Path(args.out), chosen)


if __name__ == "__main__":
    main(sys.argv[1:])
