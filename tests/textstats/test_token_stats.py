"""The batched token statistics equal the per-text ones of `signals`, number for number."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sft_select.textstats import signals, token_stats

# few distinct words, so n-grams repeat; separators and case that the tokenization must normalize
_WORDS = ["the", "The", "cat", "CAT", "sat", "on", "a", "mat", "x_1", "42", "ok"]
_SEPS = [" ", "  ", "\n", "\t", ", ", ". ", "-", " (", ") ", "\x0b", "\x1f", "!!"]
text = st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_SEPS)), max_size=40).map(
    lambda pairs: "".join(w + s for w, s in pairs))
edge = st.sampled_from(["", " ", "   ", "...", "a", "a a", "a a a a", " the cat the cat ", "_"])
texts = st.lists(st.one_of(text, edge, st.text(alphabet=st.characters(max_codepoint=127), max_size=60)),
                 max_size=25)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_duplicate_ngram_ratios_equal_the_per_text_ones(batch):
    toks = [signals.repetition_tokens(t) for t in batch]
    for n in (2, 3):
        counts, ratios = token_stats.duplicate_ngram_ratios(batch, n)
        assert counts.tolist() == [len(t) for t in toks]
        assert ratios.tolist() == [signals.duplicate_ngram_ratio(t, n) for t in toks]


def test_a_batch_with_too_many_distinct_tokens_for_one_key_is_halved(monkeypatch):
    batch = [" ".join(f"w{i % 7} w{(i * 3) % 5}" for i in range(30)) + f" own{r}" for r in range(9)]
    want = token_stats.duplicate_ngram_ratios(batch)
    monkeypatch.setattr(token_stats, "KEY_BITS", 14)  # 3 x 4 bits + 2 row bits: only pairs of texts fit
    got = token_stats.duplicate_ngram_ratios(batch)
    assert [g.tolist() for g in got] == [w.tolist() for w in want]


def test_long_inputs_are_counted_in_chunks_with_the_same_numbers(monkeypatch):
    batch = [f"w{i % 3} w{i % 5} " * (i % 7) + "end" for i in range(23)]
    whole = token_stats.duplicate_ngram_ratios(batch)
    monkeypatch.setattr(token_stats, "CHUNK", 4)
    chunked = token_stats.duplicate_ngram_ratios(batch)
    assert [a.tolist() for a in chunked] == [a.tolist() for a in whole]


def test_ascii_rows():
    assert token_stats.ascii_rows(["a", "é", "", "b\x00"]).tolist() == [0, 2, 3]
    assert token_stats.ascii_rows([]).dtype == np.int64
