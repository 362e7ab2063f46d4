"""The one exception type of every mistake a user can fix: a bad argument, file, mask, probe, label or model name.

Each subclass's message stands alone (what, where, expected vs got). Under the ``lm_eval``
command, ``_autoload`` prints such an error as one line instead of a traceback
(``HNEURON_EVAL_TRACEBACK=1`` shows the traceback).
"""


class HNeuronError(Exception):
    """Base of the user-fixable errors of hneuron-eval; catch this to catch them all."""


class ModelArgsError(HNeuronError, ValueError):
    """A bad ``--model_args`` value of ``hneuron-hf`` (alpha, mode, a flag given without the one it needs)."""
