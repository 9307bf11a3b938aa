"""Vectorized shingles equal the naive Python n-grams; the ASCII fast path equals the Unicode path."""
from __future__ import annotations

import random

import numpy as np

from sft_select.preprocess.shingles import shingle, token_text, words_of


def naive(text: str, n: int) -> set[tuple[str, ...]]:
    w = token_text(text).split()
    if not w:
        return set()
    if len(w) < n:
        return {tuple(w)}
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def test_token_text_normalizes_case_punctuation_and_scripts():
    assert token_text("Hello,  WORLD!\tfoo_bar") == "hello world foo_bar"
    assert token_text("中文测试") == "中 文 测 试"
    assert token_text("naïve café") == "naïve café"  # combining marks stay inside words
    assert token_text("ｆｕｌｌ-width") == "full width"  # NFKC
    assert token_text("🙂 emoji only 🙂") == "emoji only"


def test_ascii_fast_path_gives_the_same_tokens():
    for t in ["Hello,\x00 World!\x0b\tfoo_bar", "a--b  c", "tab\there\r\nnewline", "x\x7fy", "it's 3.5%"]:
        assert [w.decode() for w in words_of(t)] == token_text(t).split()


def test_shingle_sets_match_naive_ngrams():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(40)] + ["Ünï", "中", "café"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25))) for _ in range(200)]
    for n in (1, 3, 5):
        sh = shingle(texts, n)
        for i in range(0, 200, 7):
            for j in range(i + 1, min(200, i + 15)):
                a, b = naive(texts[i], n), naive(texts[j], n)
                ha, hb = set(sh.doc(i).tolist()), set(sh.doc(j).tolist())
                assert len(ha) == len(a) and len(hb) == len(b)
                assert len(ha & hb) == len(a & b)


def test_short_documents_whole_or_skipped():
    sh = shingle(["one two", "", "one two three four"], 3)
    assert list(sh.counts) == [1, 0, 2]
    assert list(shingle(["one two", "a b c"], 3, short="skip").counts) == [0, 1]


def test_subset_gathers_rows_in_order():
    sh = shingle(["a b c d", "e f g", "h i j k l"], 2)
    sub = sh.subset(np.array([2, 0]))
    assert np.array_equal(sub.doc(0), sh.doc(2)) and np.array_equal(sub.doc(1), sh.doc(0))


def test_remembered_word_hashes_are_the_computed_ones_and_dsir_scores_the_same():
    """near dedup keeps the pool's word hashes for relevance_dsir: a memo hit gives exactly what
    hashing the words again gives, a text outside the memo falls back to hashing, and the DSIR scores
    are the same with and without the memo."""
    from sft_select.core.record import Example, Turn
    from sft_select.preprocess.shingles import word_hashes
    from sft_select.preprocess.word_memo import forget_words, recall_words
    from sft_select.views.relevance_dsir import RelevanceDSIR

    rng = random.Random(3)
    vocab = ["alpha", "beta", "Gamma", "delta", "é", "中", "x", "I", "data-set", "3.5"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    pool = [Example(id=str(i), source="s", row=i, format="alpaca", original={},
                    turns=(Turn("user", "q"), Turn("assistant", t))) for i, t in enumerate(texts)]
    target = pool[:20]
    forget_words()
    fitted = RelevanceDSIR(buckets=64).fit(pool, target)
    plain = fitted.score_batch(pool)
    contents = [ex.content for ex in pool]
    try:
        shingle(contents, 5, remember=True)
        memo = recall_words(contents[::-1])
        fresh = word_hashes(contents[::-1])
        assert memo is not None
        assert np.array_equal(memo.hashes, fresh.hashes) and np.array_equal(memo.counts, fresh.counts)
        assert recall_words(contents[:3] + ["a text near dedup never saw"]) is None
        remembered = RelevanceDSIR(buckets=64).fit(pool, target)
        assert np.array_equal(remembered.log_ratio_, fitted.log_ratio_)
        again = remembered.score_batch(pool)
        assert np.array_equal(again.raw, plain.raw) and again.reasons == plain.reasons
    finally:
        forget_words()
    assert recall_words(contents) is None


def test_remembering_over_workers_gives_the_serial_shingles_and_words():
    from sft_select.executors import pool as parallel
    from sft_select.preprocess.shingles import word_hashes
    from sft_select.preprocess.word_memo import forget_words, recall_words

    rng = random.Random(5)
    vocab = ["alpha", "beta", "中文", "x", "", "naïve", "3.5"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25))) for _ in range(200)]
    serial = shingle(texts, 3)
    try:
        with parallel.workers(2, min_items=10):
            split = shingle(texts, 3, remember=True)
        assert np.array_equal(split.hashes, serial.hashes) and np.array_equal(split.offsets, serial.offsets)
        memo, fresh = recall_words(texts), word_hashes(texts)
        assert np.array_equal(memo.hashes, fresh.hashes) and np.array_equal(memo.counts, fresh.counts)
    finally:
        forget_words()


def test_parallel_shingles_of_text_that_nfkc_expands_past_its_length():
    """'㍻' is one character and two tokens ('平', '成') after NFKC: more hashes than the shared region
    holds, so the workers hand them back directly; the result is still the serial one."""
    from sft_select.executors import pool as parallel
    from sft_select.preprocess.shingles import word_hashes
    from sft_select.preprocess.word_memo import forget_words, recall_words

    texts = ["㍻" * (10 + i % 7) for i in range(40)]
    assert len(words_of(texts[0])) == 2 * len(texts[0])
    serial = shingle(texts, 2)
    try:
        with parallel.workers(2, min_items=10):
            split = shingle(texts, 2, remember=True)
        assert np.array_equal(split.hashes, serial.hashes) and np.array_equal(split.offsets, serial.offsets)
        assert np.array_equal(recall_words(texts).hashes, word_hashes(texts).hashes)
    finally:
        forget_words()
