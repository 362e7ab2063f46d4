"""A round's sealed test: build it from both labellers (consensus), then score frozen judges on it once.

usage: python scripts/judges/seal.py consensus ROUND_DIR
       python scripts/judges/seal.py score ROUND_DIR --judges rule learned [--judge-path DIR] [--beside REPORT.json ...]
       python scripts/judges/seal.py adopt ROUND_DIR --judges rule learned

``consensus`` joins ``batch*/test/labelled.jsonl`` (first labeller) and ``labelled_second.jsonl``
(second labeller) into ``ROUND_DIR/sealed_test.jsonl``: the rows both labellers gave the same
class; it also writes their agreement (raw and Cohen's kappa, sklearn) per task side to
``labeller_agreement.md/.json``. No judge is involved. ``score`` runs ``judge-check``'s evaluation
of each named judge on the sealed test, writes ``sealed_<judge>.md/.json`` and the side-by-side
``sealed_comparison.md`` (with, beside them, ``--beside`` reports ``judge-check --out`` wrote for
judges this checkout no longer computes, such as an earlier learned judge run from its commit),
and records the per-metric agreement of each judge the package bundles in its
``judges/quality.json`` for the leaderboard. ``--judge-path`` scores a learned judge from a folder (a
frozen candidate) instead of the bundled one; quality.json is then left alone for it. ``adopt``, once
that candidate has been bundled, copies the reports ``score`` wrote for it into quality.json without
scoring again, so that the sealed test stays scored once.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections import defaultdict
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.core.provenance import utc_now
from hneuron_eval.judges import get_judge
from hneuron_eval.judges.check import evaluate, markdown
from hneuron_eval.judges.labels import LabelFileError, read_labels
from hneuron_eval.judges.quality import QUALITY_FILE

ROOT = Path(__file__).resolve().parents[2]


def _rel(path: Path) -> str:
    """The path relative to the checkout, as results record it; one outside it (a scratch round) stays whole."""
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()


def _quality_entry(report: dict, rows: int) -> dict:
    return {"labels": report["labels"][0], "rows": rows, "command": report["command"], "date": report["date"],
            "metrics": report["metrics"], "task_sides": report["task_sides"]}


def consensus(rnd: Path, command: str) -> None:
    agreed, pairs = [], defaultdict(lambda: ([], []))
    for first_path in sorted(rnd.glob("batch*/test/labelled.jsonl")):
        second_path = first_path.with_name("labelled_second.jsonl")
        second = {r.id: r.label for r in read_labels(second_path)}
        raw = {json.loads(x)["id"]: json.loads(x) for x in first_path.read_text(encoding="utf-8").split("\n")
               if x.strip()}
        for row in read_labels(first_path):
            if row.id not in second:
                raise LabelFileError(f"{second_path}: no label for {row.id!r}, which {first_path.name} labels")
            a, b = pairs[row.task_side]
            a.append(row.label)
            b.append(second[row.id])
            if row.label == second[row.id]:
                agreed.append({**raw[row.id], "label_second": second[row.id], "source": _rel(first_path)})
    table = {}
    all_a = [x for a, _ in pairs.values() for x in a]
    all_b = [x for _, b in pairs.values() for x in b]
    for side, (a, b) in sorted(pairs.items()):
        table[side] = {"rows": len(a), "agree": sum(x == y for x, y in zip(a, b)),
                       "kappa": round(float(cohen_kappa_score(a, b)), 3) if len(set(a) | set(b)) > 1 else None}
    overall = {"rows": len(all_a), "agree": sum(x == y for x, y in zip(all_a, all_b)),
               "kappa": round(float(cohen_kappa_score(all_a, all_b)), 3)}
    write_text_atomic(rnd / "sealed_test.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in agreed))
    write_json_atomic(rnd / "labeller_agreement.json", {"command": command, "overall": overall, "task_sides": table})
    lines = ["# Labeller agreement on the sealed test", "", f"Command: `{command}`", "",
             f"Overall: {overall['agree']} / {overall['rows']} = {overall['agree'] / overall['rows']:.3f}, "
             f"Cohen's kappa {overall['kappa']}. The sealed test keeps the {len(agreed)} rows both labellers gave "
             "the same class.", "", "| task side | rows | agree | share | kappa |", "|---|---|---|---|---|"]
    lines += [f"| {s} | {t['rows']} | {t['agree']} | {t['agree'] / t['rows']:.3f} | {t['kappa']} |"
              for s, t in table.items()]
    write_text_atomic(rnd / "labeller_agreement.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def _quality() -> dict:
    return json.loads(QUALITY_FILE.read_text(encoding="utf-8")) if QUALITY_FILE.is_file() else {"judges": {}}


def score(rnd: Path, names: list[str], command: str, beside: list[str] = (), judge_path: str | None = None) -> None:
    path = rnd / "sealed_test.jsonl"
    rows = read_labels(path)
    quality = _quality()
    reports = {}
    for name in names:
        candidate = judge_path is not None and name == "learned"
        judge = get_judge(name, path=judge_path) if candidate else get_judge(name)
        report = evaluate(judge, rows)
        report.update(labels=[_rel(path)], command=command, date=utc_now())
        reports[name] = report
        write_json_atomic(rnd / f"sealed_{name}.json", report)
        write_text_atomic(rnd / f"sealed_{name}.md", markdown(report, f"Sealed test: {report['judge']}") +
                          f"\nCommand: `{command}`\n")
        if not candidate:
            quality["judges"][report["judge"]] = _quality_entry(report, len(rows))
    write_json_atomic(QUALITY_FILE, quality)
    for extra in beside:
        report = json.loads(Path(extra).read_text(encoding="utf-8"))
        if report.get("labels") != [_rel(path)]:
            raise SystemExit(f"{extra}: scored on {report.get('labels')}, not on this round's sealed test")
        reports[report["judge"]] = report
        names = [*names, report["judge"]]
    cell = lambda r: "n/a" if not r else f"{r['value']:.3f} ({r['low']:.2f}-{r['high']:.2f}) [{r['hits']}/{r['n']}]"  # noqa: E731
    heads = [reports[n]["judge"] for n in names]
    lines = ["# Sealed test: the judges side by side", "", f"Command: `{command}`", "",
             f"{len(rows)} responses both labellers agreed on ({_rel(path)}). Cells: weighted value (Wilson 95%) "
             "[raw hits / rows].", "", "| | " + " | ".join(f"`{h}`" for h in heads) + " |",
             "|---|" + "---|" * len(heads), "| **overall agreement** | " +
             " | ".join(cell(reports[n]["agreement"]) for n in names) + " |"]
    for side in reports[names[0]]["task_sides"]:
        lines.append(f"| {side} | " + " | ".join(cell(reports[n]["task_sides"][side]) for n in names) + " |")
    for what in ("precision", "recall"):
        for cls in reports[names[0]]["classes"]:
            lines.append(f"| {cls} {what} | " + " | ".join(cell(reports[n]["classes"].get(cls, {}).get(what))
                                                          for n in names) + " |")
    write_text_atomic(rnd / "sealed_comparison.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def adopt(rnd: Path, names: list[str]) -> None:
    rows = len(read_labels(rnd / "sealed_test.jsonl"))
    quality = _quality()
    for name in names:
        report_path = rnd / f"sealed_{name}.json"
        if not report_path.is_file():
            raise SystemExit(f"{report_path}: no such report (run `seal.py score` first)")
        report = json.loads(report_path.read_text(encoding="utf-8"))
        bundled = get_judge(name)
        if report["judge"] != f"{bundled.name}:{bundled.version}":
            raise SystemExit(f"{report_path}: scored {report['judge']}, but the package bundles "
                             f"{bundled.name}:{bundled.version}")
        quality["judges"][report["judge"]] = _quality_entry(report, rows)
        print(f"{QUALITY_FILE.name}: {report['judge']} from {_rel(report_path)}")
    write_json_atomic(QUALITY_FILE, quality)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("consensus", "score", "adopt"))
    parser.add_argument("round_dir")
    parser.add_argument("--judges", nargs="+", default=["rule", "learned"])
    parser.add_argument("--beside", nargs="*", default=[], help="judge-check --out JSON reports to show beside")
    parser.add_argument("--judge-path", help="score the learned judge in this folder instead of the bundled one")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "scripts/judges/seal.py", *argv])
    if args.step == "consensus":
        consensus(Path(args.round_dir), command)
    elif args.step == "score":
        score(Path(args.round_dir), args.judges, command, args.beside, args.judge_path)
    else:
        adopt(Path(args.round_dir), args.judges)


if __name__ == "__main__":
    from _cli import run  # scripts/judges/ is on sys.path when a script runs

    run(main)
