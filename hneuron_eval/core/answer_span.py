"""Stage 2: locate the factual answer span inside a response, in token ids, without any external service.

Rule ("first-line" rule), applied to the response token ids, identical for both classes:
1. keep the tokens before the first token whose text contains a newline;
2. drop a leading answer prefix ("the answer is", "answer:", "a:", "it is", ...) matched on the
   normalised text of the first tokens;
3. drop leading and trailing tokens whose text is only whitespace or punctuation.
If nothing is left, fall back to all output tokens (counted as a fallback). Mode ``all`` uses
all output tokens.
"""

from __future__ import annotations

import string
from typing import Any

from hneuron_eval.judges import normalize_answer

ANSWER_TOKENS = ("span", "all")  # the first-line rule, or every generated token
PREFIXES = frozenset(normalize_answer(p) for p in (
    "answer:", "a:", "the answer is", "the answer is:", "the correct answer is", "my answer is",
    "it is", "it's", "it was", "that is", "that would be",
))
_MAX_PREFIX_TOKENS = 6
_BLANK = set(string.whitespace + string.punctuation + "‘’“”")

RULE = (
    "first-line rule: response tokens before the first newline token, minus a leading answer "
    "prefix ('the answer is', 'answer:', 'it is', ...) and leading/trailing whitespace/punctuation "
    "tokens; all output tokens if nothing is left"
)


class SpanFinder:
    """Finds answer spans for one tokenizer (caches per-token texts)."""

    def __init__(self, tokenizer: Any, tokens: str = "span"):
        if tokens not in ANSWER_TOKENS:
            raise ValueError(f"answer tokens must be one of {ANSWER_TOKENS}, got {tokens!r}")
        self.tokenizer, self.tokens = tokenizer, tokens
        self._text: dict[int, str] = {}

    def token_text(self, token_id: int) -> str:
        text = self._text.get(token_id)
        if text is None:
            text = self._text[token_id] = self.tokenizer.decode([token_id])
        return text

    def find(self, ids: list[int]) -> tuple[int, int, bool]:
        """(start, end, fell_back) over ``ids``, the response token ids; end is exclusive."""
        if self.tokens == "all" or not ids:
            return 0, len(ids), False
        end = next((k for k, t in enumerate(ids) if "\n" in self.token_text(t)), len(ids))
        start = 0
        for k in range(min(_MAX_PREFIX_TOKENS, end), 0, -1):  # longest prefix first
            if normalize_answer(self.tokenizer.decode(ids[:k])) in PREFIXES:
                start = k
                break
        while start < end and self._blank(ids[start]):
            start += 1
        while end > start and self._blank(ids[end - 1]):
            end -= 1
        if start >= end:
            return 0, len(ids), True
        return start, end, False

    def _blank(self, token_id: int) -> bool:
        return all(c in _BLANK for c in self.token_text(token_id))
