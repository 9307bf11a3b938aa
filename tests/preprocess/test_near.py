"""Near dedup finds the pairs at or over the threshold (brute force and datasketch as oracles)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from sft_select.preprocess.config import NearConfig
from sft_select.preprocess.near import choose_bands, find_near_duplicates, jaccard, pair_jaccard
from sft_select.preprocess.shingles import shingle


def corpus(n_base: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(3000)]
    docs = []
    for _ in range(n_base):
        docs.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(30, 120))))
        if rng.random() < 0.3:  # a near copy with a few substituted words
            words = docs[-1].split()
            for _ in range(rng.randint(1, 4)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            docs.append(" ".join(words))
    return docs


def brute_force(docs: list[str], n: int, t: float) -> set[tuple[int, int]]:
    sh = shingle(docs, n)
    uniq = [np.unique(sh.doc(i)) for i in range(len(docs))]
    return {(i, j) for i in range(len(docs)) for j in range(i + 1, len(docs)) if jaccard(uniq[i], uniq[j]) >= t}


def test_finds_all_true_pairs_and_only_them():
    docs = corpus()
    cfg = NearConfig(ngram=3, threshold=0.7)
    truth = brute_force(docs, 3, 0.7)
    assert len(truth) > 50
    found = {tuple(p) for p in find_near_duplicates(docs, cfg).pairs.tolist()}
    assert found <= truth  # verification: never a pair under the threshold
    assert len(found & truth) / len(truth) >= 0.95


def test_recall_not_worse_than_datasketch():
    datasketch = pytest.importorskip("datasketch")
    docs = corpus(seed=1)
    truth = brute_force(docs, 3, 0.7)
    sh = shingle(docs, 3)
    lsh = datasketch.MinHashLSH(threshold=0.7, num_perm=128)
    hashes = []
    for i in range(len(docs)):
        m = datasketch.MinHash(num_perm=128, hashfunc=lambda x: x)  # our shingle hashes, cut to 32 bits
        m.update_batch([int(h) & 0xFFFFFFFF for h in np.unique(sh.doc(i))])
        lsh.insert(i, m)
        hashes.append(m)
    ds = {tuple(sorted((i, j))) for i in range(len(docs)) for j in lsh.query(hashes[i]) if i != j}
    ours = {tuple(p) for p in find_near_duplicates(docs, NearConfig(ngram=3, threshold=0.7)).pairs.tolist()}
    assert len(ours & truth) >= len(ds & truth)


def test_pair_jaccard_matches_the_per_pair_definition():
    docs = corpus(60, seed=2)
    sh = shingle(docs, 3)
    pairs = np.array([(i, j) for i in range(20) for j in range(i + 1, 25)])
    uniq = [np.unique(sh.doc(i)) for i in range(len(docs))]
    expect = [jaccard(uniq[a], uniq[b]) for a, b in pairs]
    assert np.allclose(pair_jaccard(sh, pairs, chunk=17), expect)


def test_empty_and_tiny_inputs():
    cfg = NearConfig()
    assert len(find_near_duplicates([], cfg).pairs) == 0
    assert len(find_near_duplicates(["", "", "   "], cfg).pairs) == 0  # no shingles: never duplicates
    res = find_near_duplicates(["same text here", "same text here!", "other words entirely"], cfg)
    assert res.pairs.tolist() == [[0, 1]]


def test_choose_bands_divides_and_reaches_recall():
    for t in (0.5, 0.7, 0.8, 0.9):
        b = choose_bands(t, 128)
        r = 128 // b
        assert 128 % b == 0 and 1 - (1 - t ** r) ** b >= 0.9
    with pytest.raises(ValueError):
        NearConfig(num_perm=128, bands=12)
