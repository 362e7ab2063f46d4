"""Answer span rule on token ids."""

from __future__ import annotations

import pytest
from identify_fixtures import tiny_tokenizer

from hneuron_eval.core.answer_span import SpanFinder


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("text, span", [
    ("paris", "paris"),
    ("the answer is paris .", "paris"),
    ("answer : mars\nwho is it", "mars"),
    (": capital of france .", "capital of france"),
])
def test_span(tok, text, span):
    t = ids(tok, text)
    start, end, fell_back = SpanFinder(tok).find(t)
    assert not fell_back and tok.decode(t[start:end]) == span


def test_fallback_and_all_answer_tokens(tok):
    t = ids(tok, ". ?\nparis")
    assert SpanFinder(tok).find(t) == (0, len(t), True)
    t = ids(tok, "the answer is paris")
    assert SpanFinder(tok, "all").find(t) == (0, 4, False)
    with pytest.raises(ValueError, match="answer tokens must be one of"):
        SpanFinder(tok, "first")
