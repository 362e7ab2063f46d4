"""Make plain ``lm_eval`` see the ``hneuron-hf`` model and the ``hneuron`` tasks without flags.

lm-eval 0.4.x has no plugin discovery for models or tasks. The installed
``hneuron_eval-autoload.pth`` imports this module at interpreter start-up; it only adds
a meta-path finder (no heavy imports). When, and only when, a process imports
``lm_eval.models`` we register ``hneuron-hf`` as a lazy placeholder, and when it imports
``lm_eval.tasks.manager`` we append our task folder to ``TaskManager``'s search path.
Set ``HNEURON_EVAL_NO_AUTOLOAD=1`` to switch this off. Every step is guarded: a failure
here must never break an unrelated Python process.
"""

from __future__ import annotations

import os
import sys

MODEL_NAME = "hneuron-hf"
MODEL_TARGET = "hneuron_eval.harness.lm_model:HNeuronLM"


def register_model() -> None:
    """Register ``hneuron-hf`` lazily in lm-eval's model registry (idempotent)."""
    from lm_eval.api.registry import model_registry

    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME, target=MODEL_TARGET)
    if _is_lm_eval_command():
        _one_line_errors()


def _is_lm_eval_command() -> bool:
    """This process is the ``lm_eval`` command (console script or ``python -m lm_eval``)."""
    argv0 = sys.argv[0] if sys.argv else ""
    main = sys.modules.get("__main__")
    return os.path.basename(argv0) in ("lm_eval", "lm-eval") or getattr(getattr(main, "__spec__", None), "name",
                                                                          "") == "lm_eval.__main__"


def _one_line_errors() -> None:
    """Under ``lm_eval``, print an hneuron-eval user error as its one-line message, not a 30-70-line traceback."""
    if getattr(sys.excepthook, "_hneuron_eval", False) or os.environ.get("HNEURON_EVAL_TRACEBACK"):
        return
    previous = sys.excepthook

    def hook(kind, exc, tb):
        from hneuron_eval.errors import HNeuronError

        if isinstance(exc, HNeuronError):
            print(f"lm_eval: error: {exc}", file=sys.stderr)
            print("(HNEURON_EVAL_TRACEBACK=1 shows the traceback)", file=sys.stderr)
            return
        previous(kind, exc, tb)

    hook._hneuron_eval = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def tasks_dir() -> str:
    """Folder holding the task YAMLs: the checkout's ``tasks/`` or the wheel's copy."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(pkg)
    if os.path.isfile(os.path.join(root, "pyproject.toml")) and os.path.isdir(os.path.join(root, "tasks")):
        return os.path.join(root, "tasks")
    return os.path.join(pkg, "tasks")


def patch_task_manager(module) -> None:
    """Wrap ``TaskManager.__init__`` so default task discovery also scans our folder."""
    cls = module.TaskManager
    if getattr(cls.__init__, "_hneuron_eval", False):
        return
    original = cls.__init__

    def __init__(self, *args, **kwargs):
        if kwargs.get("include_defaults", True) and (len(args) < 3 or args[2]):
            ours = tasks_dir()
            if len(args) >= 2:
                args = list(args)
                args[1] = _with_path(args[1], ours)
            else:
                kwargs["include_path"] = _with_path(kwargs.get("include_path"), ours)
        original(self, *args, **kwargs)

    __init__._hneuron_eval = True  # type: ignore[attr-defined]
    __init__.__doc__ = original.__doc__
    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    cls.__init__ = __init__


def _with_path(include_path, ours: str):
    # ours goes first so that a user's --include_path still overrides our task names
    if include_path is None:
        return [ours]
    paths = list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
    if any(os.path.abspath(str(p)) == ours for p in paths):
        return paths
    return [ours, *paths]


_AFTER_IMPORT = {
    "lm_eval.models": lambda module: register_model(),
    "lm_eval.tasks.manager": patch_task_manager,
}


class _LmEvalFinder:
    """Meta-path finder that runs a small patch right after lm-eval executes a module above.

    Deliberately not an ``importlib.abc`` subclass: that import alone would cost every
    Python start-up more than all the rest of this module.
    """

    def find_spec(self, fullname, path, target=None):
        if fullname not in _AFTER_IMPORT:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module
        patch = _AFTER_IMPORT[fullname]

        def exec_then_patch(module):
            exec_module(module)
            try:
                patch(module)
            except Exception as exc:  # never break lm_eval itself
                print(f"hneuron-eval: could not hook into {fullname}: {exc!r}", file=sys.stderr)

        loader.exec_module = exec_then_patch
        return spec


def install() -> None:
    """Install the finder once, unless disabled; patch modules that are already loaded."""
    if os.environ.get("HNEURON_EVAL_NO_AUTOLOAD") or any(isinstance(f, _LmEvalFinder) for f in sys.meta_path):
        return
    for name, patch in _AFTER_IMPORT.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, _LmEvalFinder())


try:
    install()
except Exception:  # pragma: no cover - start-up must never fail because of us
    pass
