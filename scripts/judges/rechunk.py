"""Deal a round's blind chunks again, shuffled into new chunks, for the second labeller of the sealed test.

usage: python scripts/judges/rechunk.py LABELLER_DIR --from PREFIX --to PREFIX --seed S --chunk-size N

Reads ``LABELLER_DIR/in/<from>*.jsonl`` and writes ``LABELLER_DIR/in/<to>NN.jsonl``: the same blind
rows in another order and other company, so that no second chunk repeats a first chunk.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from hneuron_eval.core.fileio import write_text_atomic


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labeller_dir")
    parser.add_argument("--from", dest="source", required=True)
    parser.add_argument("--to", dest="target", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--chunk-size", type=int, required=True)
    args = parser.parse_args(argv)
    folder = Path(args.labeller_dir) / "in"
    rows = [line for path in sorted(folder.glob(f"{args.source}*.jsonl"))
            for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    if not rows:
        raise SystemExit(f"{folder}: no {args.source}*.jsonl chunks")
    random.Random(args.seed).shuffle(rows)
    for i in range(0, len(rows), args.chunk_size):
        part = rows[i:i + args.chunk_size]
        write_text_atomic(folder / f"{args.target}{i // args.chunk_size:02d}.jsonl", "\n".join(part) + "\n")
    print(f"{len(rows)} rows dealt into {-(-len(rows) // args.chunk_size)} {args.target}* chunks")


if __name__ == "__main__":
    from _cli import run  # scripts/judges/ is on sys.path when a script runs

    run(main)
