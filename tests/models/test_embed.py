"""Embeddings: the hashing embedder, and the store that caches vectors in memory and on disk."""
from __future__ import annotations

import numpy as np
import pytest

from sft_select.core.errors import ConfigError
from sft_select.models.embed import embedders as embed
from sft_select.models.embed.embedders import EmbeddingStore, get_embedder


class CountingEmbedder:
    """A stand-in model that counts the texts it encodes."""

    fingerprint = "counting-v1"
    dim = 4
    persist = True

    def __init__(self):
        self.encoded = 0

    def encode(self, texts):
        self.encoded += len(texts)
        return np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts], dtype=np.float32)


@pytest.fixture
def counting(monkeypatch, tmp_path):
    model = CountingEmbedder()
    monkeypatch.setitem(embed._LOADED, "counting", model)
    monkeypatch.setenv("SFT_SELECT_EMBED_CACHE", str(tmp_path / "emb"))
    EmbeddingStore.clear()
    yield model
    EmbeddingStore.clear()


def test_hashing_embedder_is_deterministic_and_unit_length():
    model = get_embedder("hashing")
    a = model.encode(["a python function", "bake the bread"])
    assert a.shape == (2, model.dim) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, get_embedder("hashing").encode(["a python function", "bake the bread"]))
    assert model.persist is False  # cheaper to recompute than to read back


def test_memory_cache_embeds_each_id_once(counting):
    ids, texts = ["x", "y", "x"], ["apple", "pear", "apple"]
    first = EmbeddingStore.embed(ids, texts, "counting")
    assert counting.encoded == 2  # the repeated id is embedded once
    np.testing.assert_array_equal(first[0], first[2])
    EmbeddingStore.embed(ids, texts, "counting")
    assert counting.encoded == 2


def test_disk_cache_survives_a_new_process(counting, tmp_path):
    ids = [f"id{i}" for i in range(50)]
    texts = [f"text number {i} " + "a" * (i % 7) for i in range(50)]
    first = EmbeddingStore.embed(ids, texts, "counting", batch_size=16)
    assert counting.encoded == 50
    EmbeddingStore.clear()  # as if a second run started: nothing in memory
    again = EmbeddingStore.embed(ids, texts, "counting")
    assert counting.encoded == 50
    np.testing.assert_array_equal(first, again)
    EmbeddingStore.clear()
    EmbeddingStore.embed(ids + ["new"], texts + ["eee"], "counting")
    assert counting.encoded == 51  # only the new example is embedded
    shards = sorted((tmp_path / "emb").rglob("*.ids.npy"))
    assert len(shards) == 5  # 4 batches of the first run + 1 for the new id
    for ids_file in shards:  # plain arrays: loadable with pickling disabled
        np.load(ids_file, allow_pickle=False)
        np.load(str(ids_file).replace(".ids.npy", ".npy"), allow_pickle=False)


def test_damaged_shard_is_recomputed_not_fatal(counting, tmp_path):
    EmbeddingStore.embed(["a", "b"], ["apple", "berry"], "counting")
    for f in (tmp_path / "emb").rglob("*.ids.npy"):
        f.write_bytes(b"garbage")
    EmbeddingStore.clear()
    out = EmbeddingStore.embed(["a", "b"], ["apple", "berry"], "counting")
    assert counting.encoded == 4 and out.shape == (2, 4)


def test_disk_cache_can_be_switched_off(counting, tmp_path, monkeypatch):
    monkeypatch.setenv("SFT_SELECT_EMBED_CACHE", "off")
    EmbeddingStore.embed(["a"], ["apple"], "counting")
    EmbeddingStore.clear()
    EmbeddingStore.embed(["a"], ["apple"], "counting")
    assert counting.encoded == 2 and not (tmp_path / "emb").exists()


def test_models_do_not_share_cache_entries(counting):
    a = EmbeddingStore.embed(["same-id"], ["apple"], "counting")
    b = EmbeddingStore.embed(["same-id"], ["apple"], "hashing")
    assert a.shape[1] == 4 and b.shape[1] == get_embedder("hashing").dim


def test_unknown_model_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load"):
        get_embedder(str(tmp_path / "no-such-model"))


@pytest.mark.slow
def test_static_minilm_embeds_by_meaning():
    model = get_embedder("static-minilm")
    v = model.encode(["How do I cook pasta?", "What is the way to boil spaghetti?", "The stock market fell today."])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1


@pytest.mark.slow
def test_sentence_transformers_model_from_a_folder(counting):
    """Any sentence-transformers folder is an embedder; its fingerprint covers the folder's files."""
    from sft_select.models.embed.embedders import minilm_path

    path = str(minilm_path())
    model = get_embedder(path)
    assert model.dim == 384 and model.fingerprint.startswith(f"st:{path}:")
    v = EmbeddingStore.embed(["p", "q"], ["How do I cook pasta?", "Boiling spaghetti"], path)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)


def test_embedding_ahead_from_both_ends_caches_every_vector_on_disk(counting, monkeypatch):
    """`embed_ahead`: a worker embeds from the front, saving disk shards as it goes, and this process
    from the back when `finish` is called; every id then has its vector in memory and on disk."""
    from sft_select.executors import pool as parallel

    counting.cpu_parallel = True  # forks for it like the static model
    monkeypatch.setattr(embed, "SHARD_ROWS", 7)
    ids = [f"id{i}" for i in range(60)]
    texts = ["a" * (i % 5) + "e" * (i % 3) + str(i) for i in range(60)]
    with parallel.workers(2, min_items=10):
        finish = EmbeddingStore.embed_ahead(ids, texts, "counting", batch_size=4)
        assert finish is not None
        finish()
    expected = CountingEmbedder().encode(texts)
    np.testing.assert_array_equal(EmbeddingStore.embed(ids, texts, "counting"), expected)
    EmbeddingStore.clear()  # memory gone: the vectors come back from the disk shards alone
    before = counting.encoded
    np.testing.assert_array_equal(EmbeddingStore.embed(ids, texts, "counting"), expected)
    assert counting.encoded == before
