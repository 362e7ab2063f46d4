"""Judges turn a free-text response into yes/no decisions: transparent rules by default, a model on request.

The rule judge (:mod:`.rules`) is offline and readable; an optional model judge (:mod:`.model`)
asks any lm-eval-loadable or OpenAI-compatible model the same questions when a run asks for it
(``--metadata '{"hn_judge": ...}'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hneuron_eval.judges.answers import canonical_answer, clean_response, match_alias, normalize_answer
from hneuron_eval.judges.model import ModelJudge, lm_eval_completer, openai_completer
from hneuron_eval.judges.rules import RULE, RULES_VERSION, RuleJudge

__all__ = [
    "RULE",
    "RULES_VERSION",
    "Judge",
    "ModelJudge",
    "RuleJudge",
    "canonical_answer",
    "clean_response",
    "get_judge",
    "judge_from_metadata",
    "match_alias",
    "normalize_answer",
]


class Judge(Protocol):
    """The decisions every task kind combines into its per-document class."""

    name: str
    version: str

    def correct(self, question: str, response: str, aliases: Sequence[str]) -> bool: ...
    def degenerate(self, question: str, response: str, echo: bool = True) -> bool: ...
    def declined(self, question: str, response: str) -> bool: ...
    def noncommittal(self, question: str, response: str) -> bool: ...
    def refused(self, question: str, response: str) -> bool: ...
    def attempted(self, request: str, response: str) -> bool: ...
    def rejects_premise(self, question: str, response: str, corrections: Sequence[str] = ()) -> bool: ...
    def retracted(self, question: str, response: str) -> bool: ...
    def flipped(self, question: str, response: str, aliases: Sequence[str]) -> bool: ...


JUDGES = ("rule", "lm_eval", "openai")
_CACHE: dict[tuple, Judge] = {}


def get_judge(name: str = "rule", **options: Any) -> Judge:
    """Build (once per process) the judge called ``name`` with its options."""
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}; expected one of {list(JUDGES)}")
    if name == "rule":
        return RULE
    key = (name, tuple(sorted((k, str(v)) for k, v in options.items())))
    if key not in _CACHE:
        model = options.get("model")
        if not model:
            raise ValueError(f"judge {name!r} needs a model (hn_judge_model)")
        if name == "lm_eval":
            complete = lm_eval_completer(model, options.get("model_args", ""))
        else:
            if not options.get("base_url"):
                raise ValueError("judge 'openai' needs a base URL (hn_judge_base_url)")
            complete = openai_completer(model, options["base_url"])
        _CACHE[key] = ModelJudge(complete, f"{name}:{model}")
    return _CACHE[key]


def judge_from_metadata(metadata: dict | None) -> Judge:
    """Pick the judge from task metadata: ``hn_judge`` plus ``hn_judge_model``/``_model_args``/``_base_url``."""
    meta = metadata or {}
    options = {
        k[len("hn_judge_") :]: v for k, v in meta.items() if k.startswith("hn_judge_") and k != "hn_judge_version"
    }
    return get_judge(str(meta.get("hn_judge", "rule")), **options)
