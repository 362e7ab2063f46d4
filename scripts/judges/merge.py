"""Join the labellers' blind labels back to the drawn rows of a round: ``<split>/labelled.jsonl`` (first labeller)
and ``test/labelled_second.jsonl`` (second labeller of the sealed test).

usage: python scripts/judges/merge.py ROUND_DIR LABELLER_DIR --first PREFIX [--second PREFIX]

LABELLER_DIR holds ``in/<chunk>.jsonl`` (what each labeller was given) and ``out/<chunk>.jsonl``
(``{"id", "label"}`` per row, opaque ids). Chunks named PREFIX* give the first label of every
drawn row, --second chunks the test split's second label. Both folders are copied into
``ROUND_DIR/labellers/``. A blind id that matches no drawn row, a row left without a label, or a
label outside the row's choices is an error naming the file and line.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from hneuron_eval.core.fileio import write_text_atomic
from hneuron_eval.judges.labels import LabelFileError, blind_id, read_labels


def labels(folder: Path, prefix: str) -> dict[str, tuple[str, str]]:
    """Opaque id -> (label, chunk) from every out/PREFIX*.jsonl, checked against its in/ chunk."""
    out: dict[str, tuple[str, str]] = {}
    paths = sorted((folder / "out").glob(f"{prefix}*.jsonl"))
    if not paths:
        raise LabelFileError(f"{folder / 'out'}: no {prefix}*.jsonl label files")
    for path in paths:
        given = [json.loads(x) for x in (folder / "in" / path.name).read_text(encoding="utf-8").split("\n")
                 if x.strip()]
        said = [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x.strip()]
        choices = {r["id"]: r["choices"] for r in given}
        if len(said) != len(given):
            raise LabelFileError(f"{path}: {len(said)} labels for {len(given)} rows given")
        for line, row in enumerate(said, 1):
            if row.get("id") not in choices:
                raise LabelFileError(f"{path}:{line}: field 'id': {row.get('id')!r} was not given in this chunk")
            if row.get("label") not in choices[row["id"]]:
                raise LabelFileError(f"{path}:{line}: field 'label': expected one of {choices[row['id']]}, "
                                     f"got {row.get('label')!r}")
            out[row["id"]] = (row["label"], path.stem)
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("round_dir")
    parser.add_argument("labeller_dir")
    parser.add_argument("--first", required=True)
    parser.add_argument("--second")
    args = parser.parse_args(argv)
    rnd, lab = Path(args.round_dir), Path(args.labeller_dir)
    first = labels(lab, args.first)
    second = labels(lab, args.second) if args.second else {}
    if not any((rnd / split / "drawn.jsonl").is_file() for split in ("train", "dev", "test")):
        raise LabelFileError(f"{rnd}: no train/dev/test drawn.jsonl (not a draw.py round folder)")
    for split in ("train", "dev", "test"):
        if not (rnd / split / "drawn.jsonl").is_file():
            continue  # the round drew no questions for this split
        drawn = [json.loads(x) for x in (rnd / split / "drawn.jsonl").read_text(encoding="utf-8").split("\n")
                 if x.strip()]
        for name, source in (("labelled", first), ("labelled_second", second)):
            if name == "labelled_second" and (split != "test" or not second):
                continue
            rows = []
            for row in drawn:
                key = blind_id(row["id"])
                if key not in source:
                    raise LabelFileError(f"{rnd / split / 'drawn.jsonl'}: row {row['id']!r} has no {name} label")
                label, chunk = source[key]
                rows.append({**row, "label": label, "labeller": chunk})
            path = rnd / split / f"{name}.jsonl"
            write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            read_labels(path)  # what judge-check will read must pass its checks
            print(f"{path}: {len(rows)} rows")
    for part in ("in", "out"):
        for path in sorted((lab / part).glob(f"{args.first}*.jsonl")) + (
                sorted((lab / part).glob(f"{args.second}*.jsonl")) if args.second else []):
            (rnd / "labellers" / part).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, rnd / "labellers" / part / path.name)


if __name__ == "__main__":
    from _cli import run  # scripts/judges/ is on sys.path when a script runs

    run(main)
