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


# -- grouping: no chains (issue #23, case 14) --------------------------------------------------------

def _chain_docs() -> list[str]:
    """A ~ B and B ~ C over the 0.7 threshold (3-gram Jaccard 0.81), A vs C under it (0.66)."""
    words = [f"tok{i}" for i in range(200)]
    return [" ".join(words[0:100]), " ".join(words[10:110]), " ".join(words[20:120]), " ".join(words[150:200])]


def _near_pool(docs: list[str]):
    from preprocess.helpers import pool

    return pool([(d, "same answer every time") for d in docs])


def test_a_chain_does_not_make_one_cluster():
    from sft_select.preprocess.config import PreprocessConfig
    from sft_select.preprocess.run import run_preprocess

    docs = _chain_docs()
    sh = shingle(docs, 3)
    uniq = [np.unique(sh.doc(i)) for i in range(len(docs))]
    assert jaccard(uniq[0], uniq[1]) >= 0.7 and jaccard(uniq[1], uniq[2]) >= 0.7
    assert jaccard(uniq[0], uniq[2]) < 0.7
    cfg = NearConfig(ngram=3, threshold=0.7, field="prompt")
    assert {tuple(p) for p in find_near_duplicates(docs, cfg).pairs.tolist()} >= {(0, 1), (1, 2)}

    exs = _near_pool(docs)
    res = run_preprocess(exs, PreprocessConfig.model_validate({"near": cfg.model_dump()}))
    cluster, _ = res.clusters.columns([ex.id for ex in exs])
    assert cluster[0] == cluster[1] is not None  # A and B are near duplicates
    assert cluster[2] is None  # C is not a duplicate of A: it is kept
    assert cluster[3] is None


def test_near_links_form_cliques_of_verified_pairs():
    from sft_select.preprocess.near import near_links

    # 0-1, 1-2 (chain: 0-2 missing), 0-3, 1-3 (3 pairs with both 0 and 1), 2-4, 4-5
    pairs = np.array([(0, 1), (1, 2), (0, 3), (1, 3), (2, 4), (4, 5), (2, 5)])
    links = near_links(pairs).tolist()
    assert links == [[0, 1], [0, 3], [2, 4], [2, 5]]
    assert near_links(np.zeros((0, 2), np.int64)).shape == (0, 2)


def test_every_dropped_row_is_within_the_threshold_of_its_kept_row():
    """On a corpus of edit chains (each document a few words from the previous one), every member of a
    near cluster stays within the threshold of whichever member is kept, first or best."""
    import pandas as pd

    from sft_select.preprocess.clusters import resolve
    from sft_select.preprocess.config import PreprocessConfig
    from sft_select.preprocess.run import run_preprocess

    rng = random.Random(5)
    vocab = [f"word{i}" for i in range(2000)]
    docs = []
    for _ in range(40):
        words = [rng.choice(vocab) for _ in range(60)]
        for _ in range(rng.randint(2, 6)):  # a chain of small edits drifts away from its start
            docs.append(" ".join(words))
            for _ in range(4):
                words[rng.randrange(len(words))] = rng.choice(vocab)
    rng.shuffle(docs)
    exs = _near_pool(docs)
    cfg = NearConfig(ngram=3, threshold=0.7, field="prompt")
    res = run_preprocess(exs, PreprocessConfig.model_validate({"near": cfg.model_dump()}))
    ids = [ex.id for ex in exs]
    cluster, kind = res.clusters.columns(ids)
    sh = shingle(docs, 3)
    uniq = {ex.id: np.unique(sh.doc(i)) for i, ex in enumerate(exs)}
    linked = sum(c is not None for c in cluster)
    assert linked >= 20
    for keep, score in (("first", np.zeros(len(exs))), ("best", np.random.default_rng(0).random(len(exs)))):
        table = pd.DataFrame({"id": ids, "dup_cluster": cluster, "dup_kind": kind, "reason": None, "score": score})
        out = resolve(table, keep)
        dropped = out[out["reason"].notna()]
        assert len(dropped) > 0
        sims = [jaccard(uniq[d], uniq[k]) for d, k in zip(dropped["id"], dropped["kept_id"])]
        assert min(sims) >= 0.7, (keep, sorted(sims)[:5])
