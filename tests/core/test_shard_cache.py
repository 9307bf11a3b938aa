"""core/shard_cache.py: rows by id in plain .npy shards, written atomically, read without pickle."""
from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from sft_select.core.shard_cache import ShardCache


@pytest.mark.parametrize("mmap", [False, True])
def test_round_trip_and_a_fresh_reader(tmp_path, mmap):
    cache = ShardCache(tmp_path / "key", mmap=mmap)
    assert cache.get(["a"]) == {}  # no folder yet: nothing cached, no error
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    cache.put(["a", "b", "c"], rows)
    cache.put(["d"], np.array([[9, 9]], dtype=np.float32))
    for reader in (cache, ShardCache(tmp_path / "key", mmap=mmap)):
        got = reader.get(["c", "a", "d", "zz"])
        assert sorted(got) == ["a", "c", "d"]
        np.testing.assert_array_equal(got["c"], rows[2])
        np.testing.assert_array_equal(got["d"], [9, 9])
        assert got["a"].dtype == np.float32
    assert sorted(p.name for p in (tmp_path / "key").iterdir() if p.name.startswith(".")) == []  # no temps left


def test_dtype_and_mismatched_lengths(tmp_path):
    cache = ShardCache(tmp_path / "k")
    cache.put(["a"], [[1, 2]], dtype=np.float64)
    assert ShardCache(tmp_path / "k").get(["a"])["a"].dtype == np.float64
    with pytest.raises(ValueError):
        cache.put(["a", "b"], np.zeros((3, 2)))
    assert cache.put([], np.zeros((0, 2))) is None


def _writer(folder, start):
    cache = ShardCache(folder)
    for s in range(start, start + 40, 4):
        ids = [f"id{i}" for i in range(s, s + 4)]
        cache.put(ids, np.arange(s, s + 4, dtype=np.float64)[:, None])


def test_concurrent_writers_and_a_reader_that_picks_up_their_shards(tmp_path):
    folder = tmp_path / "shared"
    reader = ShardCache(folder)
    assert reader.get(["id0"]) == {}
    ctx = mp.get_context("spawn")
    # Overlapping ranges: two processes write some of the same shards at the same time.
    procs = [ctx.Process(target=_writer, args=(folder, start)) for start in (0, 20, 20, 40)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = [f"id{i}" for i in range(80)]
    got = reader.get(ids)  # the same reader object: shards written since its last call are read now
    assert sorted(got) == sorted(ids)
    assert all(got[f"id{i}"][0] == i for i in range(80))


def test_a_damaged_shard_is_skipped_and_recomputed(tmp_path):
    folder = tmp_path / "k"
    cache = ShardCache(folder)
    cache.put(["a", "b"], np.ones((2, 3)))
    cache.put(["c"], np.full((1, 3), 2.0))
    good = next(p for p in folder.glob("*.npy") if not p.name.endswith(".ids.npy")
                and np.load(p, allow_pickle=False).shape[0] == 1)
    bad_rows = next(p for p in folder.glob("*.npy") if not p.name.endswith(".ids.npy") and p != good)
    bad_rows.write_bytes(bad_rows.read_bytes()[:-8])  # truncated
    seen = []
    for mmap in (False, True):
        reader = ShardCache(folder, mmap=mmap, on_damaged=lambda path, exc: seen.append(path))
        got = reader.get(["a", "b", "c"])
        assert sorted(got) == ["c"]
    assert len(seen) == 2
    # Rows written again (the recomputation) replace the damaged shard.
    cache.put(["a", "b"], np.ones((2, 3)))
    assert sorted(ShardCache(folder).get(["a", "b", "c"])) == ["a", "b", "c"]
    # Garbage in an ids file, and rows with no ids file (a writer killed between the two): skipped.
    (folder / "junk.ids.npy").write_bytes(b"not numpy")
    np.save(folder / "half.npy", np.zeros((1, 3)))
    assert sorted(ShardCache(folder).get(["a", "b", "c"])) == ["a", "b", "c"]


def test_no_pickle_is_ever_loaded(tmp_path):
    folder = tmp_path / "k"
    folder.mkdir()
    np.save(folder / "evil.ids.npy", np.array(["a"], dtype=str))
    np.save(folder / "evil.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)  # a pickled array
    np.save(folder / "evil2.ids.npy", np.array([object()], dtype=object), allow_pickle=True)
    np.save(folder / "evil2.npy", np.zeros((1, 2)))
    seen = []
    got = ShardCache(folder, on_damaged=lambda path, exc: seen.append(path.name)).get(["a"])
    assert got == {}
    assert sorted(seen) == ["evil.ids.npy", "evil2.ids.npy"]
