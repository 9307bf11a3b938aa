"""The fast static encoder gives StaticModel.encode's vectors (chunk-cached tokenization is exact)."""
import numpy as np
import pytest

from sft_select.models.embed.embedders import _head, get_embedder

TEXTS = [
    "", "   ", "Give three tips for staying healthy.\n\nEat well, sleep, and move every day!",
    "Café naïve résumé — déjà vu", "日本語のテキスト and English mixed", "a\x1cb c\x85d", "x" * 300,
    "emoji 😀 test!! (parentheses), [brackets]; semi:colons", "tab\tsep\nnew line\r\nwindows",
    "\u00a0nbsp\u2028line sep", "word " * 2000, "UPPER lower MiXeD 12345 3.14 e=mc^2",
    "def f(x):\n    return x ** 2  # code", "zero\u200bwidth joiner",
]


@pytest.fixture(scope="module")
def static():
    return get_embedder("static-minilm")


@pytest.fixture(scope="module")
def model2vec_model(static):
    from model2vec import StaticModel

    return StaticModel.from_pretrained(str(static._fast.model.path))


def test_the_folder_is_read_as_model2vec_reads_it(static, model2vec_model):
    parts, ref = static._fast.model, model2vec_model
    assert np.array_equal(parts.embedding, ref.embedding) and parts.embedding.dtype == ref.embedding.dtype
    assert parts.weights is None and ref.weights is None and parts.token_mapping is None and ref.token_mapping is None
    assert (parts.unk_token_id, parts.median_token_length, parts.max_length, parts.dim) == \
        (ref.unk_token_id, ref.median_token_length, ref.max_length, ref.dim)
    assert parts.tokenizer.to_str() == ref.tokenizer.to_str()  # padding and truncation settings included


def test_fast_encoder_matches_model2vec(static, model2vec_model):
    texts = [_head(t) for t in TEXTS] * 2  # repeats hit the chunk cache the second time
    fast = static._fast.encode(texts)
    ref = np.asarray(model2vec_model.encode(texts, normalize=False), dtype=np.float32)
    assert fast.shape == ref.shape
    np.testing.assert_allclose(fast, ref, atol=1e-3)
    ref_norm = np.linalg.norm(ref, axis=1)
    assert np.array_equal(np.linalg.norm(fast, axis=1) > 0, ref_norm > 0)
    nz = ref_norm > 0
    cos = (fast[nz] * ref[nz]).sum(1) / (np.linalg.norm(fast[nz], axis=1) * ref_norm[nz])
    assert cos.min() > 0.99999


def test_batch_equals_one_by_one(static):
    batch = static.encode(TEXTS)
    single = np.vstack([static.encode([t]) for t in TEXTS])
    assert np.array_equal(batch, single)  # bit-identical: a text's vector never depends on its batch
    shuffled = static.encode(TEXTS[::-1])[::-1]
    assert np.array_equal(batch, shuffled)


def test_cache_is_bounded(static, monkeypatch):
    import sft_select.models.embed.static_encode as se

    monkeypatch.setattr(se, "CACHE_LIMIT", 5)
    static._fast._clear()
    first = static._fast.encode(["one two three four"])
    assert len(static._fast._index) == 4
    static._fast.encode(["five six seven eight nine ten"])
    assert set(static._fast._index) == {"five", "six", "seven", "eight", "nine", "ten"}  # cleared, not grown
    assert np.array_equal(static._fast.encode(["one two three four"]), first)  # re-tokenized the same


def test_separator_inside_a_text_takes_the_per_text_split(static):
    texts = ["plain words here", "with \x00 a separator", "more words", "a\x1cb"]
    batch = static.encode(texts)
    single = np.vstack([static.encode([t]) for t in texts])
    assert np.array_equal(batch, single)
    fast = static.encode([texts[0], texts[2]])  # no separator in this batch: the joined split
    assert np.array_equal(batch[[0, 2]], fast)


def test_arrow_split_gives_the_python_splits_vectors_bit_for_bit(static, monkeypatch):
    """ASCII batches are split and numbered by Arrow; the vectors equal the str.split path's exactly,
    with every kind of ASCII whitespace, edges, empty texts, a \\x00 and mixed batches."""
    import random

    import sft_select.models.embed.static_encode as se

    rng = random.Random(5)
    words = ["the", "Cat", "sat", "on", "mat.", "x=1;", "(yes)", "don't", "e-mail", "\x00", "ok", "42"]
    seps = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", " \n "]
    texts = ["", " ", "\t\n", " lead", "trail ", "word " * 2000]
    texts += ["".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(1, 40))) for _ in range(200)]
    mixed = texts[:50] + ["naïve café", "a\x1cb c"] + texts[50:]
    by_arrow = [static._fast.encode(texts), static._fast.encode(mixed)]
    monkeypatch.setattr(se, "_splits_like_arrow", lambda text: False)
    static._fast._clear()
    by_python = [static._fast.encode(texts), static._fast.encode(mixed)]
    for a, b in zip(by_arrow, by_python):
        assert np.array_equal(a, b)


def test_whole_word_ids_are_the_tokenizers(static):
    """A chunk the vocabulary holds as one word takes its id without the tokenizer: the same ids, for
    words of every case, digits, long words and chunks that must still go to the tokenizer."""
    import random
    import string

    from sft_select.models.embed.static_encode import whole_word_lookup

    tokenizer = static._fast.tokenizer
    lookup = whole_word_lookup(tokenizer)
    assert lookup is not None
    vocab = list(tokenizer.get_vocab())
    rng = random.Random(3)
    chunks = rng.sample(vocab, 3000) + [w.upper() for w in rng.sample(vocab, 300)]
    chunks += [w.capitalize() for w in rng.sample(vocab, 300)] + ["".join(rng.choices(string.ascii_letters, k=8))
                                                                  for _ in range(300)]
    chunks += ["hello", "Hello,", "42", "3.14", "don't", "café", "[CLS]", "[UNK]", "a" * 100, "a" * 101, "ß", "Ⅻ",
               "x²", "١٢٣", "hello_world", "##ing", ""]
    looked_up = 0
    for chunk in chunks:
        token = lookup(chunk)
        if token is not None:
            looked_up += 1
            assert [token] == tokenizer.encode(chunk, add_special_tokens=False).ids, chunk
    assert looked_up > 2000  # most vocabulary words are found without the tokenizer
    assert lookup("Hello,") is None and lookup("café") is None and lookup("x²") is None


def test_the_cache_gets_the_tokenizers_ids_for_every_chunk(static):
    chunks = ["The", "cat's", "SAT", "naïve", "mat.", "12", "unbelievably", "zzzqqq", "a" * 120]
    static._fast._clear()
    static._fast._add(chunks)
    for chunk in chunks:
        row = static._fast._index[chunk]
        start, n = static._fast._starts[row], static._fast._lens[row]
        assert static._fast._tokens[start:start + n].tolist() == \
            static._fast.tokenizer.encode(chunk, add_special_tokens=False).ids, chunk
