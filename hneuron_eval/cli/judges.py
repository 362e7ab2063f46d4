"""The judge commands of ``hneuron-eval``: ``judge-check`` (a judge against blind labels), ``judge-explain`` and
``rescore``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hneuron_eval.cli.common import HelpFormatter

# in a checkout of the project: the newest sealed test, never training data for the bundled judge (no jailbreak side:
# round 6's is the last; a judge not trained on it can be checked there with --labels)
SEALED_TEST = Path("results/judges/round9/sealed_test.jsonl")
GATE_FAILED = 3  # judge-check's exit status when a --min-* goal is missed (errors exit 1)


def add_judge_options(p: argparse.ArgumentParser) -> None:
    """The options that pick a judge, named as the tasks' ``--metadata`` keys (``hn_judge``, ``hn_judge_model``...)."""
    from hneuron_eval.judges import DEFAULT_JUDGE, JUDGES

    p.add_argument("--judge", default=DEFAULT_JUDGE, choices=JUDGES, help="which judge")
    p.add_argument("--judge-model", help="model name (openai, lm_eval)")
    p.add_argument("--judge-base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (openai)")
    p.add_argument("--judge-model-args", help="lm-eval --model_args of the judge model (lm_eval)")
    p.add_argument("--judge-path", help="a learned judge folder (judge.json + judge.npz; default: the bundled one)")
    p.add_argument("--judge-timeout", type=float, help="seconds per request to the endpoint (openai)")


def judge_from_args(args: argparse.Namespace) -> Any:
    from hneuron_eval.judges import get_judge

    options = {k: getattr(args, f"judge_{k}") for k in ("model", "base_url", "model_args", "path", "timeout")
               if getattr(args, f"judge_{k}") is not None}
    return get_judge(args.judge, **options)


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``judge-check``, ``judge-explain`` and ``rescore``."""
    p = sub.add_parser(
        "judge-check", formatter_class=HelpFormatter,
        help="how often a judge agrees with blind labels (default: the sealed test), per task side and class",
        description="Classes every labelled response with the judge and prints agreement per task side, precision "
        "and recall per class (weighted to the pool the labels were drawn from; Wilson 95%% intervals) and the "
        "confusions. With --min-agreement / --min-pr the exit status is 3 when a goal is missed, so a CI job "
        "can gate on it. Check an LLM judge here before trusting a leaderboard scored with it.",
    )
    add_judge_options(p)
    p.add_argument("--labels", nargs="+", help=f"labelled JSONL files (default: {SEALED_TEST} of the checkout)")
    p.add_argument("--out", help="write OUT.md and OUT.json")
    p.add_argument("--force", action="store_true", help="replace existing --out files")
    p.add_argument("--min-agreement", type=float, help="goal: agreement of every task side")
    p.add_argument("--min-pr", type=float, help="goal: precision and recall of every class")
    p.set_defaults(func=_judge_check)

    e = sub.add_parser(
        "judge-explain", formatter_class=HelpFormatter,
        help="the learned judge's class for one response, and the features that decided it",
        description="Prints, as JSON, the class the learned judge gives one response of a task, every class's score "
        "and the features that separate the chosen class from the runner-up (value after scaling, and push).",
    )
    e.add_argument("--task", required=True, help="a task of the suite, e.g. hn_selfaware")
    e.add_argument("--side", help="the document's side (default: the task's first, e.g. unanswerable)")
    e.add_argument("--question", required=True)
    e.add_argument("--response", required=True)
    e.add_argument("--gold", action="append", default=[],
                   help="a gold alias (QA, sycophancy), reference correction (FalseQA) or bare request (jailbreak); "
                   "repeat for several")
    e.add_argument("--judge-path", help="a learned judge folder (default: the bundled one)")
    e.add_argument("--top", type=int, default=8, help="how many features to show")
    e.set_defaults(func=_judge_explain)

    r = sub.add_parser(
        "rescore", formatter_class=HelpFormatter,
        help="re-score lm-eval output folders of the suite with another judge",
        description="Recomputes every per-document metric of the logged hn_* samples with the judge, and the "
        "task and group aggregates as lm-eval computes them; rewrites the samples and results files (each "
        "atomically) of the given folders (--in-place) or of copies (--out), and records the judge it replaced "
        "under hneuron_rescore. Needs --log_samples runs.",
    )
    add_judge_options(r)
    r.add_argument("runs", nargs="+", help="lm-eval output folders")
    where = r.add_mutually_exclusive_group(required=True)
    where.add_argument("--in-place", action="store_true", help="rewrite the given folders themselves")
    where.add_argument("--out", help="copy each folder to OUT/<folder name> first and re-score the copy")
    r.add_argument("--force", action="store_true", help="with --out: replace an existing OUT/<folder name>")
    r.set_defaults(func=_rescore)


def _label_files(args: argparse.Namespace) -> list[Path]:
    if args.labels:
        return [Path(p) for p in args.labels]
    from hneuron_eval.core.provenance import repo_root

    root = repo_root()
    if root is None or not (root / SEALED_TEST).is_file():
        raise ValueError(f"no --labels given and no {SEALED_TEST} here (it ships with a checkout of the project)")
    return [root / SEALED_TEST]


def _judge_check(args: argparse.Namespace) -> int:
    from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
    from hneuron_eval.judges.check import evaluate, markdown, passes
    from hneuron_eval.judges.labels import read_many

    files = _label_files(args)
    rows = read_many(files)  # bad labels are refused before the judge is built
    outputs = [Path(f"{args.out}.md"), Path(f"{args.out}.json")] if args.out else []
    existing = [p for p in outputs if p.exists()]
    if existing and not args.force:
        raise ValueError(f"{existing[0]} exists; pass --force to replace it")
    if any(p.resolve() == f.resolve() for p in outputs for f in files):
        raise ValueError("--out would overwrite a --labels file")
    judge = judge_from_args(args)
    report = evaluate(judge, rows)
    report["labels"] = [str(f) for f in files]
    report["command"] = args.command_line
    text = markdown(report, f"judge-check: {report['judge']}") + f"\nCommand: `{args.command_line}`\n"
    print(text)
    if outputs:
        write_text_atomic(outputs[0], text)
        write_json_atomic(outputs[1], report)
    goal = {k: v for k, v in (("min_agreement", args.min_agreement), ("min_pr", args.min_pr)) if v is not None}
    if goal:
        miss = passes(report, args.min_agreement if args.min_agreement is not None else 0.0,
                      args.min_pr if args.min_pr is not None else 0.0)
        if miss["task_sides_below"] or miss["classes_below"]:
            missed = "; ".join(miss["task_sides_below"] + miss["classes_below"])
            print(f"hneuron-eval: judge-check: goal missed: {missed}", file=sys.stderr)
            return GATE_FAILED
    return 0


def _judge_explain(args: argparse.Namespace) -> int:
    import json

    from hneuron_eval.judges import get_judge
    from hneuron_eval.judges.labels import task_kind
    from hneuron_eval.suite.kinds import get_kind

    try:
        kind = task_kind(args.task)
    except KeyError as exc:
        raise ValueError(f"--task: {exc.args[0]}") from None
    sides = get_kind(kind).sides
    side = args.side or sides[0]
    if side not in sides:
        raise ValueError(f"--side: expected one of {list(sides)} for {args.task}, got {side!r}")
    doc = {"question": args.question, "label": side, "aliases": list(args.gold), "corrections": list(args.gold),
           "request": args.gold[0] if args.gold else args.question, "target": args.gold[0] if args.gold else ""}
    judge = get_judge("learned", **({"path": args.judge_path} if args.judge_path else {}))
    print(json.dumps({"judge": f"{judge.name}:{judge.version}", **judge.explain(kind, doc, args.response, args.top)},
                     indent=2))
    return 0


def _rescore(args: argparse.Namespace) -> int:
    from hneuron_eval._autoload import tasks_dir
    from hneuron_eval.core.provenance import utc_now
    from hneuron_eval.report.rescore import rescore

    runs = [Path(r) for r in args.runs]
    for run in runs:
        if not run.is_dir():
            raise ValueError(f"{run}: not a folder (give lm-eval --output_path folders)")
    if args.out:
        import shutil

        targets = [Path(args.out) / run.resolve().name for run in runs]
        if len({t.name for t in targets}) < len(targets):
            raise ValueError("--out: two run folders have the same name; re-score them into different --out folders")
        for run, target in zip(runs, targets):
            if target.resolve() == run.resolve() or run.resolve() in target.resolve().parents:
                raise ValueError(f"--out {args.out}: {target} would be inside the run {run} it copies")
            if target.exists() and not args.force:
                raise ValueError(f"{target} exists; pass --force to replace it")
        judge = judge_from_args(args)  # a bad judge is refused before anything is copied
        for run, target in zip(runs, targets):
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(run, target)
        runs = targets
    else:
        judge = judge_from_args(args)
    summary = rescore(runs, judge, args.command_line, utc_now(), Path(tasks_dir()))
    for results, tasks in summary.items():
        print(results)
        for task, info in tasks.items():
            changed = ", ".join(f"{m} {a:.4f} -> {b:.4f}" for m, (a, b) in info["changed"].items()
                                if isinstance(a, float) and isinstance(b, float)) or "no metric changed"
            print(f"  {task}: {changed}")
    print(f"re-scored {len(summary)} results files with {judge.name}:{judge.version}")
    return 0
