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


# Table shards: a chunk of examples whole (the scoring checkpoints, the streaming engine's chunks).

def _frame(ids):
    import pandas as pd

    return pd.DataFrame({"id": ids, "raw": [float(i) for i in range(len(ids))],
                         "reason": [None if i % 2 else f"r{i}" for i in range(len(ids))],
                         "row": list(range(len(ids)))})


@pytest.mark.parametrize("mmap", [False, True])
def test_a_table_shard_round_trips_with_its_arrays(tmp_path, mmap):
    import pandas as pd

    ids = ["a", "b", "c"]
    frame = _frame(ids)
    arrays = {"keys": np.arange(6, dtype=np.uint64).reshape(3, 2), "ragged": np.arange(5, dtype=np.uint64),
              "offsets": np.array([0, 2, 2, 5], dtype=np.uint64)}
    cache = ShardCache(tmp_path / "k", mmap=mmap)
    assert cache.get_table(ids, name="chunk-0") is None  # nothing yet: no error
    path = cache.put_table(frame, name="chunk-0", arrays=arrays)
    assert path.name == "chunk-0.parquet"
    got = ShardCache(tmp_path / "k", mmap=mmap).get_table(ids, name="chunk-0")
    # what DataFrame.to_parquet then pandas.read_parquet give: a streamed run's table must read back as before
    frame.to_parquet(tmp_path / "plain.parquet", index=False)
    pd.testing.assert_frame_equal(got.table, pd.read_parquet(tmp_path / "plain.parquet"))
    assert sorted(got.arrays) == sorted(arrays)
    for key, values in arrays.items():
        np.testing.assert_array_equal(got.arrays[key], values)
        assert got.arrays[key].dtype == values.dtype
        assert isinstance(got.arrays[key], np.memmap) is mmap
    assert not [p for p in (tmp_path / "k").iterdir() if p.name.startswith(".")]  # no temps left


def test_a_table_shard_is_read_only_for_exactly_its_ids_in_order(tmp_path):
    import pyarrow as pa

    cache = ShardCache(tmp_path / "k")
    cache.put_table(pa.table({"id": ["a", "b"], "raw": [1.0, 2.0]}), name="000-002")  # an Arrow table too
    assert cache.get_table(["a", "b"], name="000-002").table["raw"].tolist() == [1.0, 2.0]
    assert cache.get_table(["b", "a"], name="000-002") is None
    assert cache.get_table(["a", "b", "c"], name="000-002") is None
    assert cache.get_table(["a", "b"], name="other") is None
    # unnamed: named by the ids' fingerprint, so the same ids find it
    cache.put_table(_frame(["x", "y"]))
    assert cache.get_table(["x", "y"]).table["id"].tolist() == ["x", "y"]
    assert cache.get_table(["y", "x"]) is None


def test_a_damaged_or_half_written_table_shard_is_skipped(tmp_path):
    folder = tmp_path / "k"
    seen = []
    cache = ShardCache(folder, mmap=True, on_damaged=lambda path, exc: seen.append(path.name))
    ids = ["a", "b", "c"]
    cache.put_table(_frame(ids), name="t", arrays={"keys": np.zeros((3, 2))})
    (folder / "t.keys.npy").unlink()  # an array the table lists is missing
    assert cache.get_table(ids, name="t") is None and seen == ["t.parquet"]
    cache.put_table(_frame(ids), name="t", arrays={"keys": np.zeros((3, 2))})  # the recomputation replaces it
    assert cache.get_table(ids, name="t") is not None
    table = folder / "t.parquet"
    table.write_bytes(table.read_bytes()[:-20])  # truncated
    assert cache.get_table(ids, name="t") is None and seen == ["t.parquet", "t.parquet"]
    # a writer killed after the arrays, before the table: no shard
    table.unlink()
    assert (folder / "t.keys.npy").exists() and cache.get_table(ids, name="t") is None


def test_a_table_shard_needs_ids_and_plain_array_names(tmp_path):
    import pandas as pd

    cache = ShardCache(tmp_path / "k")
    with pytest.raises(ValueError, match="id"):
        cache.put_table(pd.DataFrame({"raw": [1.0]}))
    for bad in ("ids", "../x", ".hidden"):
        with pytest.raises(ValueError, match="array names"):
            cache.put_table(_frame(["a"]), arrays={bad: np.zeros(1)})
