"""``hneuron-eval identify|sample|features|probe|evaluate``: the identification pipeline on the command line."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Any

from hneuron_eval.cli.common import HelpFormatter, renamed
from hneuron_eval.core.provenance import command_line
from hneuron_eval.harness.precision import DTYPES
from hneuron_eval.identify.fitting import C_RULES, CONTRASTS
from hneuron_eval.identify.run import DEFAULT_C_GRID, RunConfig

#: Generated tokens per second of SmolLM2-135M on 2 CPU cores (results/identify/benchmarks/, batch 16).
CPU_TOKENS_PER_S_135M = 107
#: Above this estimate a run on the CPU starts with a warning.
WARN_HOURS = 0.5


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="built-in name (smollm2-135m-instruct, gemma-3-270m), local directory or hub id")
    p.add_argument("--out", required=True, help="run directory (created; running again resumes)")
    p.add_argument("--seed", type=int, default=RunConfig.seed, help="seed of question draws, sampling and splits")
    p.add_argument("--device", default=RunConfig.device, help="torch device of the model (cpu, cuda, cuda:1, ...)")
    p.add_argument("--dtype", default=None, choices=DTYPES,
                   help="model dtype (default: bfloat16 on a GPU or a CPU with bfloat16 matrix units, else float32; "
                        "the features stage stores its own feature dtype either way)")
    p.add_argument("--ffn-site", default=None, metavar="LAYERS:DOWN_PROJ[:transposed]",
                   help="the down projections of an architecture outside the site table (as hneuron-hf ffn_site=)")


def _sample_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("stage 1, sample")
    g.add_argument("--questions", type=int, default=RunConfig.questions,
                   help="training questions drawn from the TriviaQA train-heldout file")
    g.add_argument("--samples", type=int, default=RunConfig.samples, help="samples per training question")
    g.add_argument("--test-questions", type=int, default=None,
                   help="test questions from the TriviaQA dev file (default: as many as --questions)")
    g.add_argument("--test-samples", type=int, default=RunConfig.test_samples,
                   help="samples per test question")
    g.add_argument("--max-new-tokens", type=int, default=RunConfig.max_new_tokens, help="length limit of an answer")
    g.add_argument("--batch-size", type=int, default=RunConfig.batch_size, help="prompts per generate call")
    g.add_argument("--train-per-class", type=int, default=None,
                   help="cap on faithful = hallucinated training questions (default: as many as balance allows)")
    g.add_argument("--min-per-class", type=int, default=RunConfig.min_per_class,
                   help="fewer consistent questions per class than this is an error")


def _features_options(p: argparse.ArgumentParser, keep: bool) -> None:
    g = p.add_argument_group("stage 2, features" + (" (default: the run's setting)" if keep else ""))
    g.add_argument("--feature-batch-size", type=int, default=None if keep else RunConfig.feature_batch_size,
                   help="responses per forward pass (speed and memory only)")
    g.add_argument("--feature-dtype", choices=("float32", "float16"), default=None if keep else RunConfig.feature_dtype,
                   help="dtype of the stored feature matrices")
    g.add_argument("--answer-tokens", choices=("span", "all"), default=None if keep else RunConfig.answer_tokens,
                   help="the answer-span rule, or all output tokens")


def _probe_options(p: argparse.ArgumentParser, keep: bool) -> None:
    g = p.add_argument_group("stage 3, probe" + (" (default: the run's setting)" if keep else ""))
    g.add_argument("--contrast", choices=CONTRASTS, default=None if keep else RunConfig.contrast,
                   help="3-vs-1: hallucinated answer tokens vs faithful answer and all other tokens")
    renamed(p, "--mode", "--contrast")
    g.add_argument("--c-grid", type=float, nargs="+", default=None if keep else list(DEFAULT_C_GRID),
                   help="inverse L1 strengths to choose from")
    g.add_argument("--cv-folds", type=int, default=None if keep else RunConfig.cv_folds,
                   help="folds of the cross-validated sparsity path (stratified, grouped by question)")
    g.add_argument("--c-rule", choices=sorted(C_RULES), default=None if keep else RunConfig.c_rule,
                   help="how C is picked from the path: " + "; ".join(f"{k}: {v}" for k, v in C_RULES.items()))
    g.add_argument("--suppress-questions", type=int, default=None if keep else RunConfig.suppress_questions,
                   help="measure greedy TriviaQA accuracy on this many train-file questions with each C's "
                        "H-neurons ablated (one generation pass per C); --c-rule suppression picks by it")


def _evaluate_options(p: argparse.ArgumentParser, keep: bool) -> None:
    g = p.add_argument_group("stage 4, evaluate" + (" (default: the run's setting)" if keep else ""))
    g.add_argument("--eval-questions", type=int, default=None if keep else RunConfig.eval_questions,
                   help="questions per cross-domain set (NQ-Open, BioASQ, NEC)")
    g.add_argument("--random-seeds", type=int, default=None if keep else RunConfig.random_seeds,
                   help="random-neuron control probes")
    g.add_argument("--bioasq", default=None, help="BioASQ factoid jsonl (question, answer_aliases); skipped if absent")


def _config(args: argparse.Namespace) -> RunConfig:
    names = {f.name for f in fields(RunConfig)}
    return RunConfig(**{k: v for k, v in vars(args).items() if k in names})


def estimate_hours(config: RunConfig, stages: tuple[str, ...]) -> tuple[int, float]:
    """Answers to generate and the hours that takes a 135M-parameter model on 2 CPU cores (a lower bound)."""
    answers = 0
    if "sample" in stages:
        answers += config.questions * config.samples + (config.test_questions or config.questions) * config.test_samples
    if "evaluate" in stages:
        answers += 3 * config.eval_questions * config.test_samples
    return answers, answers * config.max_new_tokens / CPU_TOKENS_PER_S_135M / 3600


def _warn_if_long(config: RunConfig, stages: tuple[str, ...]) -> None:
    answers, hours = estimate_hours(config, stages)
    if config.device == "cpu" and hours > WARN_HOURS:
        print(f"hneuron-eval: warning: this run generates about {answers:,} answers of up to {config.max_new_tokens} "
              f"tokens: at least {hours:.1f} hours on a CPU for a 135M-parameter model (longer for larger ones). "
              "For a first try use e.g. --questions 400 --samples 2; a resumed run skips finished work.",
              file=sys.stderr, flush=True)


def _open(args: argparse.Namespace):
    from hneuron_eval.identify.run import IdentifyRun

    run = IdentifyRun(args.out)
    run.command = _command(args)
    return run


def cmd_identify(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages
    from hneuron_eval.identify.report import write_report
    from hneuron_eval.identify.run import IdentifyRun

    config = _config(args)
    _warn_if_long(config, ("sample", "evaluate"))
    run = IdentifyRun.create_or_open(args.out, config, _command(args))
    stages.sample(run)
    stages.features(run)
    stages.probe(run)
    stages.evaluate(run, args.bioasq)
    write_report(run, _command(args))
    print(f"done: {run.path('report.md')}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages
    from hneuron_eval.identify.run import IdentifyRun

    config = _config(args)
    _warn_if_long(config, ("sample",))
    splits = stages.sample(IdentifyRun.create_or_open(args.out, config, _command(args)))
    print(f"train {splits['train']['per_class']} per class, test {splits['test']['per_class']} per class")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages

    run = _open(args)
    run.settle("features", {"feature_dtype": args.feature_dtype, "answer_tokens": args.answer_tokens},
               started=run.path("features").exists())
    stages.features(run, args.feature_batch_size)
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages

    out = stages.probe(_open(args), args.c_grid, args.contrast, args.suppress_questions, args.cv_folds, args.c_rule)
    print(f"C={out['chosen_C']:g}: {out['n_h_neurons']} H-neurons")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from hneuron_eval.identify import stages
    from hneuron_eval.identify.report import write_report

    run = _open(args)
    started = run.path("evaluation.json").exists() or any(run.path("samples").glob("eval-*.jsonl"))
    run.settle("evaluate", {"eval_questions": args.eval_questions, "random_seeds": args.random_seeds}, started)
    stages.evaluate(run, args.bioasq)
    write_report(run, _command(args))
    print(f"done: {run.path('report.md')}")
    return 0


def _command(args: argparse.Namespace) -> str:
    """The command line as a user would type it (``main`` records it; otherwise the process's own)."""
    return getattr(args, "command_line", None) or command_line("hneuron-eval", sys.argv[1:])


def register(subparsers: Any) -> None:
    """Add the identify, sample, features, probe and evaluate subcommands."""
    p = subparsers.add_parser(
        "identify", formatter_class=HelpFormatter, help="all four stages of the H-neuron identification (resumable)",
        description="Run the whole pipeline: sample -> features -> probe -> evaluate, then write report.md. "
                    "The defaults are the paper's scale: many hours on a CPU even for a 135M-parameter model. "
                    "Every stage resumes where it stopped.")
    _run_options(p)
    _sample_options(p)
    _features_options(p, keep=False)
    _probe_options(p, keep=False)
    _evaluate_options(p, keep=False)
    p.set_defaults(func=cmd_identify)

    p = subparsers.add_parser(
        "sample", formatter_class=HelpFormatter, help="stage 1 of 4: sample and judge answers, write balanced splits",
        description="Start a run (or resume one): sample answers to TriviaQA questions, judge them, keep the "
                    "consistent ones and write balanced, disjoint train/test splits. Later stages take their own "
                    "options; until then they use the defaults shown by 'hneuron-eval identify --help'.")
    _run_options(p)
    _sample_options(p)
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "features", formatter_class=HelpFormatter, help="stage 2 of 4: CETT features of the train/test splits",
        description="CETT features of the train and test splits. --feature-dtype and --answer-tokens are stored "
                    "in run.json and can change only until this stage has started.")
    p.add_argument("--out", required=True, help="run directory made by 'sample'")
    _features_options(p, keep=True)
    p.set_defaults(func=cmd_features)

    p = subparsers.add_parser(
        "probe", formatter_class=HelpFormatter, help="stage 3 of 4: fit the L1 probe over the C grid, write the masks",
        description="Fit the L1 probe for each C, keep the best, write the H-neuron mask and its random control. "
                    "Options given here apply to this fit and are recorded in probe/selection.json.")
    p.add_argument("--out", required=True, help="run directory with train features")
    _probe_options(p, keep=True)
    p.set_defaults(func=cmd_probe)

    p = subparsers.add_parser(
        "evaluate", formatter_class=HelpFormatter,
        help="stage 4 of 4: H-neurons vs random neurons on TriviaQA, NQ-Open, BioASQ, NEC",
        description="Accuracy and AUROC with bootstrap intervals: the probe on all neurons, on the H-neurons and on "
                    "random neurons, then report.md. --eval-questions and --random-seeds are stored in run.json and "
                    "can change only until this stage has started.")
    p.add_argument("--out", required=True, help="run directory")
    _evaluate_options(p, keep=True)
    p.set_defaults(func=cmd_evaluate)
