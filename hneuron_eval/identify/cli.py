"""``hneuron-eval identify|sample|features|probe|evaluate``: the identification pipeline on the command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import fields

from hneuron_eval.identify.run import DEFAULT_C_GRID, RunConfig


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="built-in name (smollm2-135m-instruct, gemma-3-270m), local dir or hub id")
    p.add_argument("--out", required=True, help="run directory (created; re-running resumes)")
    p.add_argument("--samples", type=int, default=10, help="samples per training question (paper: 10)")
    p.add_argument("--questions", type=int, default=4000, help="training questions drawn from the TriviaQA train-heldout file")
    p.add_argument("--test-questions", type=int, default=None, help="test questions from the TriviaQA dev file (default: --questions)")
    p.add_argument("--test-samples", type=int, default=1, help="samples per evaluation question (paper: 1)")
    p.add_argument("--eval-questions", type=int, default=1000, help="questions per cross-domain set (NQ-Open, BioASQ, NEC)")
    p.add_argument("--max-new-tokens", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=16, help="prompts per generate call")
    p.add_argument("--feature-batch-size", type=int, default=8)
    p.add_argument("--feature-dtype", choices=("float32", "float16"), default="float32")
    p.add_argument("--answer-tokens", choices=("span", "all"), default="span", help="answer span rule, or all output tokens")
    p.add_argument("--mode", choices=("3-vs-1", "1-vs-1"), default="3-vs-1")
    p.add_argument("--c-grid", type=float, nargs="+", default=list(DEFAULT_C_GRID))
    p.add_argument("--suppress-questions", type=int, default=0,
                   help="also choose C by greedy TriviaQA accuracy on this many train-file questions with the candidate H-neurons ablated (paper's criterion; costs one generation pass per C)")
    p.add_argument("--train-per-class", type=int, default=None, help="cap on faithful = hallucinated training questions")
    p.add_argument("--min-per-class", type=int, default=20, help="fewer consistent questions per class than this is an error")
    p.add_argument("--random-seeds", type=int, default=5, help="random-neuron control probes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")


def _config(args: argparse.Namespace) -> RunConfig:
    names = {f.name for f in fields(RunConfig)}
    return RunConfig(**{k: v for k, v in vars(args).items() if k in names})


def _open(args: argparse.Namespace):
    from hneuron_eval.identify.run import Run

    run = Run(args.out)
    run.command = _command(args)
    return run


def cmd_identify(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages
    from hneuron_eval.identify.report import write_report
    from hneuron_eval.identify.run import Run

    run = Run.create_or_open(args.out, _config(args), _command(args))
    stages.sample(run)
    stages.features(run)
    stages.probe(run)
    stages.evaluate(run, args.bioasq)
    write_report(run, _command(args))
    print(f"done: {run.path('report.md')}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages
    from hneuron_eval.identify.run import Run

    splits = stages.sample(Run.create_or_open(args.out, _config(args), _command(args)))
    print(f"train {splits['train']['per_class']} per class, test {splits['test']['per_class']} per class")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages

    stages.features(_open(args))
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages

    out = stages.probe(_open(args), args.c_grid, args.mode)
    print(f"C={out['chosen_C']:g}: {out['n_h_neurons']} H-neurons")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages
    from hneuron_eval.identify.report import write_report

    run = _open(args)
    stages.evaluate(run, args.bioasq)
    write_report(run, _command(args))
    print(f"done: {run.path('report.md')}")
    return 0


def _command(args: argparse.Namespace) -> str:
    """The command line as a user would type it (``main`` records its argv; otherwise the process's)."""
    argv = getattr(args, "argv", None) or sys.argv[1:]
    return "hneuron-eval " + " ".join(shlex.quote(a) for a in argv)


def add_identify_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the identify, sample, features, probe and evaluate subcommands."""
    p = subparsers.add_parser("identify", help="run the whole H-neuron identification pipeline (resumable)")
    _add_run_options(p)
    p.add_argument("--bioasq", default=None, help="BioASQ factoid jsonl (question, answer_aliases); skipped if absent")
    p.set_defaults(func=cmd_identify)
    p = subparsers.add_parser("sample", help="stage 1: sample and judge answers, write balanced disjoint splits")
    _add_run_options(p)
    p.set_defaults(func=cmd_sample)
    p = subparsers.add_parser("features", help="stage 3: CETT features of the train/test splits")
    p.add_argument("--out", required=True, help="run directory made by 'sample'")
    p.set_defaults(func=cmd_features)
    p = subparsers.add_parser("probe", help="stage 4: fit the L1 probe over the C grid, write the masks")
    p.add_argument("--out", required=True, help="run directory with train features")
    p.add_argument("--c-grid", type=float, nargs="+", default=None, help="override the run's C grid")
    p.add_argument("--mode", choices=("3-vs-1", "1-vs-1"), default=None, help="override the run's mode")
    p.set_defaults(func=cmd_probe)
    p = subparsers.add_parser("evaluate", help="stage 5: H-neurons vs random neurons on TriviaQA, NQ-Open, BioASQ, NEC")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--bioasq", default=None, help="BioASQ factoid jsonl; skipped if absent")
    p.set_defaults(func=cmd_evaluate)


def main(argv: list[str] | None = None) -> int:
    """The identification commands alone, letting errors propagate (``hneuron_eval.cli.main`` reports them)."""
    parser = argparse.ArgumentParser(prog="hneuron-eval")
    add_identify_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
