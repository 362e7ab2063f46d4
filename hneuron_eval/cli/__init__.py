"""The ``hneuron-eval`` command line: neuron masks, the offline built-in models and the identification pipeline."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from hneuron_eval import __version__
from hneuron_eval.core.provenance import command_line

DESCRIPTION = """\
Find, inspect and switch off hallucination-associated FFN neurons (H-neurons).

  mask info / mask random     inspect a *.hneurons.json mask, or make a random control mask
  models                      the offline built-in models (and --prepare to convert one)
  identify                    find H-neurons: all four stages below, resumable
  sample, features, probe, evaluate
                              the four stages one at a time
  origin                      do H-neurons come from pre-training? drift base -> tuned, probe transfer
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
    """The whole command tree: each command group's module registers its own subcommands."""
    from hneuron_eval.cli import export, identify, judges, leaderboard, masks, models, origin, sweep

    parser = argparse.ArgumentParser(prog="hneuron-eval", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hneuron-eval {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for group in (masks, models, identify, origin, sweep, leaderboard, export, judges):
        group.register(sub)
    return parser
