"""Answer text handling shared by the task suite and identification: cleaning, normalising, alias matching."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence

# special-token strings some tokenizers leave in decoded text
_SPECIAL_TOKENS = re.compile(r"<\|[^|<>]{1,40}\|>|</?(?:s|eos|bos|pad|unk|end_of_turn|start_of_turn|endoftext)>", re.I)
_PUNCT = set(string.punctuation + "‘’´`“”–—")
_NUMBERS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}


def clean_response(text: str | None) -> str:
    """Strip special-token strings and surrounding whitespace; ``None`` becomes ''."""
    if text is None:
        return ""
    return _SPECIAL_TOKENS.sub(" ", str(text)).strip()


def normalize_answer(text: str) -> str:
    """TriviaQA/SQuAD normalisation: lower case, drop punctuation and articles, squeeze spaces."""
    text = str(text).lower().replace("_", " ")
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _digits(norm: str) -> str:
    """Number words up to twenty as digits, so that '1' matches 'one season'."""
    return " ".join(_NUMBERS.get(w, w) for w in norm.split())


def _alias_forms(alias: str) -> set[str]:
    """The normalised alias, with digits for number words, and 'b and a' for 'a and b'."""
    norm = _digits(normalize_answer(alias))
    forms = {norm} if norm else set()
    parts = norm.split(" and ")
    if len(parts) == 2 and all(parts):
        forms.add(f"{parts[1]} and {parts[0]}")
    return forms


def match_alias(response: str, aliases: Iterable[str]) -> bool:
    """True when a normalised alias occurs as whole words inside the normalised response."""
    resp = f" {_digits(normalize_answer(clean_response(response)))} "
    return any(f" {form} " in resp for alias in aliases for form in _alias_forms(alias))


def canonical_answer(aliases: Sequence[str]) -> str:
    """The alias most other aliases contain ('Missouri' in 'Politics of Missouri'), in a plain spelling.

    The DPR TriviaQA files list aliases in no particular order (the first is often a
    redirect such as 'Kong Hong' or 'Misouri'), so the answer shown to a model is chosen here.
    """
    norms = [normalize_answer(a) for a in aliases]
    padded = [f" {n} " for n in norms]
    contained = {n: sum(f" {n} " in p for p in padded) if len(n) >= 2 else -1 for n in set(norms)}
    best = max(contained.values())
    candidates = [a for a, n in zip(aliases, norms) if contained[n] == best]
    return min(
        candidates, key=lambda a: ("(" in a or not a.isascii(), (a.isupper() and len(a) > 3) or a.islower(), len(a))
    )


# function words that carry no topic: ignored when comparing what two texts are about
STOPWORDS = frozenset(
    """
a about above after again against all also am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers him his
how i if in into is it its itself just let like made make many me more most my no nor not now of off on once only or
other our out over own same she should so some such than that the their them then there these they this those through
to too under until up upon us very was we were what when where which while who whom why will with would you your
yours one get got use used way well much may might must shall answer question response yes sure sorry please thank
thanks okay hello
""".split()
)


_SUFFIXES = ("ations", "ation", "ings", "ing", "edly", "ers", "er", "ed", "ly")


def _stem(word: str) -> str:
    """Crude stemming so that 'hacking', 'hacked' and 'hacks' all give 'hack', 'snakes' and 'snake' 'snak'."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word[:7]


def content_stems(text: str) -> list[str]:
    """Topic words of a text: lower case, stopwords dropped, crudely stemmed."""
    return [_stem(w) for w in re.findall(r"[^\W\d_]{3,}", text.lower()) if w not in STOPWORDS]
