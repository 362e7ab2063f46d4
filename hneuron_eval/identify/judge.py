"""Rule judge: TriviaQA-style normalisation, alias containment and abstention detection.

Private stand-in until ``hneuron_eval.scoring`` exists; same rule as the paper's rule judge.
"""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "‘’“”"})

#: Phrases (normalised) that mark a response as declining to answer.
ABSTAIN_PHRASES = (
    "i don t know",
    "i do not know",
    "i m not sure",
    "i am not sure",
    "not sure",
    "i cannot answer",
    "i can t answer",
    "i cannot provide",
    "i can t provide",
    "i m unable",
    "i am unable",
    "unable to answer",
    "i have no information",
    "no information",
    "not aware of",
    "i m not aware",
    "i couldn t find",
    "i could not find",
    "does not exist",
    "doesn t exist",
    "there is no such",
    "no such",
    "fictional",
    "not a real",
    "unknown",
    "i m sorry",
    "i am sorry",
    "sorry",
)
_ABSTAIN = re.compile(r"(?:^| )(?:" + "|".join(re.escape(p) for p in ABSTAIN_PHRASES) + r")(?: |$)")


def normalize(text: str) -> str:
    """Lower case, punctuation to spaces, drop articles, collapse whitespace."""
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def is_correct(response: str, aliases: list[str]) -> bool:
    """True when a normalised alias occurs as a whole-word run inside the normalised response."""
    resp = f" {normalize(response)} "
    return any(f" {a} " in resp for a in (normalize(x) for x in aliases) if a)


def is_abstention(response: str) -> bool:
    """True when the response declines to answer (or is empty)."""
    norm = normalize(response)
    return not norm or bool(_ABSTAIN.search(norm))
