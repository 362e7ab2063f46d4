"""``hneuron-eval mask info|random``: inspect a mask file, or make a random-neuron control."""

from __future__ import annotations

import argparse
import json

from hneuron_eval import __version__
from hneuron_eval.cli.common import HelpFormatter
from hneuron_eval.core.provenance import utc_now


def register(sub: argparse._SubParsersAction) -> None:
    """``hneuron-eval mask info`` and ``hneuron-eval mask random``."""
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
    from hneuron_eval.core.run_kind import RunKind
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
    return NeuronMask(spec, neurons, args.alpha, provenance, RunKind.CONTROL)
