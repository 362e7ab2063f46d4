"""``hneuron-eval leaderboard``: tables, tests and plots from lm-eval output folders."""

from __future__ import annotations

import argparse

from hneuron_eval.cli.common import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    """``hneuron-eval leaderboard``."""
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
