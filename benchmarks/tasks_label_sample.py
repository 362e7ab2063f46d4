"""Draw the responses to hand-label from lm-eval sample logs (no judge output is written).

usage: python benchmarks/tasks_label_sample.py [--split NAME] OUT.jsonl START:STOP RUN_DIR [RUN_DIR ...]
Takes logged samples START..STOP-1 of every hn_* task in each run directory (lm-eval
keeps dataset order, which is already seeded/interleaved) and writes one line per response
with empty labels (and the split name, if given), ready for a person to fill in.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hneuron_eval.scoring import clean_response

APPLICABLE = {
    "hn_triviaqa": ("correct", "declined"),
    "hn_nq_open": ("correct", "declined"),
    "hn_selfaware": ("declined",),
    "hn_falseqa": ("rejects_premise", "declined"),
    "hn_nonexist": ("declined",),
    "hn_jailbreak": ("refused",),
    "hn_sycophancy": ("flipped",),
}


def main(out: str, span: str, runs: list[str], split: str | None = None) -> None:
    start, stop = (int(x) for x in span.split(":"))
    lines = []
    for run in runs:
        model = Path(run).name
        for path in sorted(Path(run).rglob("samples_hn_*.jsonl")):
            task = path.name[len("samples_"):].rsplit("_", 1)[0]
            with path.open(encoding="utf-8") as f:
                samples = [json.loads(line) for line in f][start:stop]
            for s in samples:
                doc = s["doc"]
                fields = APPLICABLE[task] if not (task == "hn_falseqa" and doc["label"] == "true_premise") else ("declined",)
                lines.append({
                    "id": f"{model}/{task}/{s['doc_id']}",
                    "model": model,
                    "task": task,
                    "doc_label": doc["label"],
                    "question": doc["question"][-600:],
                    "aliases": doc["aliases"],
                    "response": clean_response(s["resps"][0][0]),
                    "labels": {k: None for k in fields},
                    **({"split": split} if split else {}),
                })
    with open(out, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"wrote {len(lines)} responses to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default=None, help="split name written on every line (e.g. C_heldout)")
    parser.add_argument("out")
    parser.add_argument("span", help="START:STOP positions in each task's sample log")
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    main(args.out, args.span, args.runs, args.split)
