"""Which option a multiple-choice answer picks: by its letter, or by the option's text (FaithEval).

A letter counts when it stands alone ("B", "(B)", "B.", "B)", "Answer: B", "The answer is B") or
is followed by its own option's text; "A cat ..." is not option A. Otherwise the answer picks the
option whose text it contains, when exactly one option's text occurs in it (replications report
that letter-only parsers miss answers given as text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hneuron_eval.judges.answers import normalize_answer

_LEAD = re.compile(r"^\W*(?:(?:the\s+)?(?:correct\s+|best\s+|right\s+)?(?:answer|choice|option)\s*(?:is\s*)?:?\s*)?"
                   r"[(\[*]*([A-Za-z])[)\]*]*(?P<rest>.*)$", re.S | re.I)


def parse_choice(text: str, labels: Sequence[str], texts: Sequence[str]) -> tuple[str | None, str]:
    """(label or None, how): ``letter``, ``text``, or why nothing was picked (``no option``, ``several options``)."""
    match = _LEAD.match(text.strip())
    if match and match.group(1).upper() in labels:
        label = match.group(1).upper()
        rest = match.group("rest")
        option = normalize_answer(texts[list(labels).index(label)])
        if not rest.strip() or rest[0] in ".):,;\n" or (option and normalize_answer(rest).startswith(option)):
            return label, "letter"
    said = f" {normalize_answer(text)} "
    found = [label for label, option in zip(labels, texts)
             if normalize_answer(option) and f" {normalize_answer(option)} " in said]
    if len(found) == 1:
        return found[0], "text"
    return None, "several options" if found else "no option"
