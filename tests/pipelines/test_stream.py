"""The streaming local engine gives the in-memory run's outputs, resumes from finished chunks, and says
clearly what it does not support yet."""
import json
import random

import pandas as pd
import pytest

from sft_select.config.schema import build_config
from sft_select.pipelines.in_memory import run, streams

WORDS = ("alpha beta gamma delta epsilon zeta theta iota kappa lambda sigma omega river stone cloud "
         "market garden engine signal vector matrix planet ocean forest").split()


def make_pool(path, n=240, seed=3, bad_rows=True):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        if rows and rng.random() < 0.1:
            rows.append(dict(rng.choice(rows)))  # exact repeat
            continue
        if rows and rng.random() < 0.1:
            row = dict(rng.choice(rows))
            row["output"] += " indeed"  # near repeat
            rows.append(row)
            continue
        rows.append({"instruction": " ".join(rng.choices(WORDS, k=rng.randint(4, 12))) + "?",
                     "input": "",
                     "output": " ".join(rng.choices(WORDS, k=rng.randint(15, 60))) + "."})
    lines = [json.dumps(r) + "\n" for r in rows]
    if bad_rows:
        lines.insert(len(lines) // 2, '{"instruction": "broken json\n')  # an unreadable row mid-file
        lines.insert(len(lines) // 3, json.dumps({"instruction": 5, "output": "x"}) + "\n")  # an invalid one
    path.write_text("".join(lines))
    return path


def cfg_for(streaming, **select):
    return build_config({
        "input": {"on_error": "skip"},
        "embedding": {"model": "hashing"},
        "engine": {"streaming": streaming, "chunk_size": 37, "fit_sample": 10_000},
        "select": {"n": 40, **select},
        "report": {"enabled": False},
    })


@pytest.fixture()
def pool(tmp_path):
    target = tmp_path / "target.jsonl"
    make_pool(target, n=12, seed=9, bad_rows=False)
    return make_pool(tmp_path / "pool.jsonl"), target


@pytest.mark.parametrize("select", [{}, {"strategy": "greedy", "tau_div": 0.9}])
def test_streaming_equals_in_memory(tmp_path, pool, select):
    src, target = pool
    mem = run([src], tmp_path / "mem", cfg_for("off", **select), target=target)
    st = run([src], tmp_path / "st", cfg_for("on", **select), target=target)
    assert st.manifest["timings"].get("pass") is not None  # it really streamed
    assert "pass" not in mem.manifest["timings"]
    for name in ("selected.jsonl", "rejected.jsonl"):
        assert (tmp_path / "st" / name).read_bytes() == (tmp_path / "mem" / name).read_bytes()
    a = pd.read_parquet(tmp_path / "mem" / "scores.parquet")
    b = pd.read_parquet(tmp_path / "st" / "scores.parquet")
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert mem.manifest["counts"] == st.manifest["counts"]
    assert [s["out"] for s in mem.manifest["steps"]] == [s["out"] for s in st.manifest["steps"]]


def test_streaming_decontaminates_as_in_memory(tmp_path, pool):
    """Both engines run the same decontamination step (preprocess.steps), so a streamed run drops the same
    rows with the same reason (it once gave the bare file name instead of `decontaminated: <file>`)."""
    src, _ = pool
    rows = [json.loads(line) for line in src.read_text().splitlines()[:3]]
    evals = tmp_path / "eval.jsonl"
    evals.write_text("".join(json.dumps({"question": r["instruction"] + " " + r["output"]}) + "\n" for r in rows))
    mem = run([src], tmp_path / "mem", cfg_for("off"), decontaminate=[evals])
    st = run([src], tmp_path / "st", cfg_for("on"), decontaminate=[evals])
    a = pd.read_parquet(tmp_path / "mem" / "scores.parquet")
    b = pd.read_parquet(tmp_path / "st" / "scores.parquet")
    assert a["filter_reason"].fillna("").str.startswith("decontaminated: eval.jsonl").sum() >= 3
    assert a["filter_reason"].tolist() == b["filter_reason"].tolist()
    assert (tmp_path / "st" / "rejected.jsonl").read_bytes() == (tmp_path / "mem" / "rejected.jsonl").read_bytes()
    assert [s["out"] for s in mem.manifest["steps"]] == [s["out"] for s in st.manifest["steps"]]


def test_every_preprocessing_step_runs_in_both_engines():
    """One ordered list of steps: drop steps come before link steps (a streamed chunk drops before it keeps
    the link steps' arrays), and each link step declares its streaming split."""
    from sft_select.preprocess.steps import STEPS

    kinds = [step.kind for step in STEPS]
    assert kinds == sorted(kinds, key=["drop", "link"].index)
    assert all(step.streamed is not None for step in STEPS if step.kind == "link")


def labelled_pool(tmp_path):
    """Two classes of word soup, 10% of the labels flipped."""
    rng = random.Random(5)
    rows = [{"text": " ".join(rng.choices(WORDS[:12] if i % 2 else WORDS[12:], k=rng.randint(8, 20))),
             "label": "a" if (i % 2) ^ (rng.random() < 0.1) else "b"} for i in range(200)]
    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return src


def test_a_streaming_run_keeps_embeddings_for_exactly_the_strategies_that_read_them(tmp_path, monkeypatch):
    """A streaming run keeps embeddings for the strategies that say they read them (`needs_embeddings`): each
    strategy is run in memory here and the ones that ask the context for embeddings must be those (one
    that reads them without saying so would fail a streaming run only after the whole pass)."""
    from sft_select.selection import base
    from sft_select.selection.strategies import STRATEGIES, needs_embeddings

    src = labelled_pool(tmp_path)
    chat = make_pool(tmp_path / "chat.jsonl")
    real, asked = base.Context.embeddings, set()
    for name in [*STRATEGIES, "auto"]:  # auto: coverage by cluster on instruction data without a target
        def recording(self, ids, why, name=name):
            asked.add(name)
            return real(self, ids, why)

        monkeypatch.setattr(base.Context, "embeddings", recording)
        cfg = cfg_for("off", strategy=name, **({} if name == "auto" else {"quota_by": "label"}))
        cfg.select.n = 60
        run([chat if name == "auto" else src], tmp_path / name, cfg)
    assert asked == {name for name in [*STRATEGIES, "auto"] if needs_embeddings(name)}


@pytest.mark.parametrize("strategy", ["coverage", "active"])
def test_strategies_that_embed_labelled_rows_stream_as_in_memory(tmp_path, strategy):
    src = labelled_pool(tmp_path)
    ids = []
    for mode in ("off", "on"):
        cfg = cfg_for(mode, strategy=strategy, quota_by="label")
        cfg.select.n = 60
        ids.append(run([src], tmp_path / mode, cfg).selected_ids)
    assert len(ids[0]) == 60 and ids[0] == ids[1]


def test_sample_smaller_than_pool_still_scores_everything(tmp_path, pool):
    src, target = pool
    cfg = cfg_for("on")
    cfg.engine.fit_sample = 50
    res = run([src], tmp_path / "st", cfg, target=target)
    table = res.table
    assert table["score"].notna().sum() == (table["filter_reason"].isna()).sum()
    assert res.manifest["counts"]["selected"] == 40


def test_worker_processes_change_nothing(tmp_path, pool):
    """With workers, chunks are filtered and keyed while they are read, and the outputs are written by
    ranges of rows; a sample smaller than the pool is drawn by row offsets. Same files as one process."""
    src, target = pool
    outs = {}
    for workers in (1, 2):
        cfg = cfg_for("on")
        cfg.engine.fit_sample = 50
        cfg.engine.workers, cfg.engine.parallel_min = workers, 10
        run([src], tmp_path / str(workers), cfg, target=target)
        outs[workers] = [(tmp_path / str(workers) / name).read_bytes() for name in ("selected.jsonl", "rejected.jsonl")]
        outs[workers].append(pd.read_parquet(tmp_path / str(workers) / "scores.parquet"))
    assert outs[1][:2] == outs[2][:2]
    pd.testing.assert_frame_equal(outs[1][2], outs[2][2])


def test_killed_run_resumes_from_finished_chunks(tmp_path, pool, monkeypatch):
    from sft_select.pipelines.streaming import chunk as chunk_mod

    src, target = pool
    real = chunk_mod.ChunkWork.process
    calls = {"n": 0}

    def dies_on_third(self, chunk, known=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, chunk, known)

    monkeypatch.setattr(chunk_mod.ChunkWork, "process", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        run([src], tmp_path / "st", cfg_for("on"), target=target)
    assert not (tmp_path / "st" / "manifest.json").exists()
    monkeypatch.setattr(chunk_mod.ChunkWork, "process", real)
    computed = {"n": 0}

    def counting(self, chunk, known=None):
        computed["n"] += 1
        return real(self, chunk, known)

    monkeypatch.setattr(chunk_mod.ChunkWork, "process", counting)
    res = run([src], tmp_path / "st", cfg_for("on"), target=target)
    chunks = -(-len(res.table) // 37)
    assert computed["n"] == chunks - 2  # the two finished chunks were read back
    fresh = run([src], tmp_path / "fresh", cfg_for("on"), target=target)
    assert res.selected_ids == fresh.selected_ids


def test_semantic_dedup_streams_as_in_memory(tmp_path, pool):
    src, target = pool
    runs = {}
    for mode in ("off", "on"):
        cfg = cfg_for(mode)
        cfg.preprocess.semantic.enabled, cfg.preprocess.semantic.threshold = True, 0.9
        runs[mode] = run([src], tmp_path / mode, cfg, target=target)
    steps = {mode: {s["step"]: s for s in r.manifest["steps"]} for mode, r in runs.items()}
    sem = steps["on"]["semantic_dedup"]
    assert sem["out"] < steps["on"]["near_dedup"]["out"]  # it linked near-repeats near dedup left apart
    assert sem["out"] == steps["off"]["semantic_dedup"]["out"]
    assert sem["details"]["linked_pairs"] == steps["off"]["semantic_dedup"]["details"]["linked_pairs"]
    for name in ("selected.jsonl", "rejected.jsonl"):
        assert (tmp_path / "on" / name).read_bytes() == (tmp_path / "off" / name).read_bytes()
    pd.testing.assert_frame_equal(runs["off"].table.reset_index(drop=True), runs["on"].table.reset_index(drop=True),
                                  check_dtype=False)


def test_auto_streams_by_input_size(tmp_path, pool):
    src, _ = pool
    cfg = cfg_for("auto")
    cfg.engine.stream_above_mb = 1e-6
    assert streams(cfg, [src])
    cfg.engine.stream_above_mb = 100
    assert not streams(cfg, [src])


def test_compressed_inputs_count_at_their_decompressed_size(tmp_path, pool):
    """A gzip or Parquet pool is held in memory decompressed: auto decides on that size (a 1M-row
    JSONL of 511 MB gzips to 236 MB, which ran in memory and peaked at 5.6 GB)."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    from sft_select.io.readers import data_bytes

    src, _ = pool
    raw = src.read_bytes()
    gz = tmp_path / "pool.jsonl.gz"
    gz.write_bytes(gzip.compress(raw * 20))
    assert data_bytes(gz) == len(raw) * 20 > 3 * gz.stat().st_size
    two_members = tmp_path / "two.jsonl.gz"
    two_members.write_bytes(gzip.compress(raw * 20) + gzip.compress(b"{}\n"))
    assert data_bytes(two_members) > 2**32  # its trailer tells only the last member: counted as large
    parquet = tmp_path / "pool.parquet"
    rows = [{"instruction": f"question {i % 50}?", "output": " ".join(WORDS) * 3} for i in range(4000)]
    pq.write_table(pa.Table.from_pylist(rows), parquet, compression="zstd")
    assert data_bytes(parquet) > 2 * parquet.stat().st_size
    cfg = cfg_for("auto")
    cfg.engine.stream_above_mb = len(raw) * 10 / 1e6  # between the gzip file's size and its data's
    assert gz.stat().st_size < cfg.engine.stream_above_mb * 1e6 and streams(cfg, [gz])
    assert not streams(cfg, [src])


def test_band_keys_computed_by_the_shingling_workers_equal_one_process():
    """Streaming near dedup: the workers that shingle a chunk also compute its LSH band keys; shingles,
    keys and the remembered word hashes equal a one-process computation (empty and short texts too)."""
    import numpy as np

    from sft_select.executors import pool as parallel
    from sft_select.preprocess.config import NearConfig
    from sft_select.preprocess.near_stream import band_keys, bands_for, shingles_and_band_keys
    from sft_select.preprocess.shingles import word_hashes
    from sft_select.preprocess.word_memo import forget_words, recall_words

    rng = random.Random(3)
    words = ["alpha", "beta", "gamma", "delta", "épsilon", "zeta", "eta", "θ", "iota", "kappa"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 40))) for _ in range(300)] + ["", "x"]
    cfg = NearConfig()
    bands = bands_for(cfg)
    serial, serial_keys = shingles_and_band_keys(texts, cfg, bands)
    with parallel.workers(2, min_items=10):
        sh, keys = shingles_and_band_keys(texts, cfg, bands, remember=True)
    np.testing.assert_array_equal(sh.hashes, serial.hashes)
    np.testing.assert_array_equal(sh.offsets, serial.offsets)
    np.testing.assert_array_equal(keys, serial_keys)
    np.testing.assert_array_equal(keys, band_keys(serial, cfg, bands))
    assert keys.shape == (len(texts), bands) and (keys[-2] == 0).all()  # no shingle: EMPTY keys
    recalled, hashed = recall_words(texts), word_hashes(texts)
    np.testing.assert_array_equal(recalled.hashes, hashed.hashes)
    np.testing.assert_array_equal(recalled.counts, hashed.counts)
    forget_words()


def test_filtered_rows_are_left_out_of_the_fit_as_in_memory(tmp_path):
    """A pool no larger than engine.fit_sample streams byte-identically even when filters drop rows: the
    views are fit on the rows that pass, as in-memory (issue #23: k-means fit on 2,996 instead of 2,994
    Dolly rows changed 198 of 500 selected rows)."""
    src = make_pool(tmp_path / "pool.jsonl", n=240, seed=4, bad_rows=False)
    lines = src.read_text().splitlines(keepends=True)
    dropped = [{"instruction": "Explain the river delta?", "input": "", "output": ""},  # empty response
               {"instruction": "Tell me about the ocean?", "input": "",
                "output": "As an AI language model, I cannot tell you about the ocean."},  # refusal
               {"instruction": "", "input": "", "output": "alpha beta gamma delta."}]  # empty prompt
    for k, row in enumerate(dropped):
        lines.insert(40 + 70 * k, json.dumps(row) + "\n")
    src.write_text("".join(lines))
    select = {"strategy": "greedy", "tau_div": 0.9}  # reads the diversity clusters and the embeddings
    run([src], tmp_path / "mem", cfg_for("off", **select))
    st = run([src], tmp_path / "st", cfg_for("on", **select))
    assert st.manifest["timings"].get("pass") is not None
    a = pd.read_parquet(tmp_path / "mem" / "scores.parquet")
    assert int(a["filter_reason"].notna().sum()) == len(dropped)
    b = pd.read_parquet(tmp_path / "st" / "scores.parquet")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    for name in ("selected.jsonl", "rejected.jsonl"):
        assert (tmp_path / "st" / name).read_bytes() == (tmp_path / "mem" / name).read_bytes()


def _toy_key(ex) -> int:
    import zlib

    return zlib.crc32(" ".join(ex.content.split()[:3]).encode())  # the first three words


def _toy_link(examples, positions, clusters, cfg, inputs):
    first: dict[int, int] = {}
    for p in positions:
        key = _toy_key(examples[p])
        if key in first:
            clusters.link([(first[key], p)], "toy")
        first.setdefault(key, p)
    return {}


def _toy_keep(examples, positions, cfg, inputs):
    import numpy as np

    return {"toy_key": np.array([_toy_key(examples[p]) for p in positions], dtype=np.uint64)}


def _toy_link_saved(saved, cfg, inputs):
    import numpy as np

    keys = saved.rows("toy_key", saved.distinct_rows).tolist()
    first: dict[int, int] = {}
    pairs = []
    for i, key in enumerate(keys):
        if key in first:
            pairs.append((first[key], i))
        first.setdefault(key, i)
    saved.link(saved.distinct_rows[np.array(pairs, dtype=np.int64).reshape(-1, 2)], "toy")
    return {"pairs": len(pairs)}


def test_a_link_step_declared_in_steps_alone_runs_in_both_engines(tmp_path, pool, monkeypatch):
    """Adding a link step is its functions and one `Step(...)` in STEPS: the streaming engine reads its
    split from the declaration (no table of its own to extend), and both engines link the same rows."""
    from sft_select.preprocess import steps as steps_mod
    from sft_select.preprocess.steps import Step, Streamed

    src, target = pool
    toy = Step("toy_dedup", lambda cfg, inputs: True, link=_toy_link, pairs=True,
               streamed=Streamed(_toy_keep, _toy_link_saved))
    monkeypatch.setattr(steps_mod, "STEPS", (*steps_mod.STEPS, toy))
    mem = run([src], tmp_path / "mem", cfg_for("off"), target=target)
    st = run([src], tmp_path / "st", cfg_for("on"), target=target)
    assert st.manifest["timings"].get("pass") is not None
    for name in ("selected.jsonl", "rejected.jsonl"):
        assert (tmp_path / "st" / name).read_bytes() == (tmp_path / "mem" / name).read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "mem" / "scores.parquet"),
                                  pd.read_parquet(tmp_path / "st" / "scores.parquet"), check_dtype=False)
    rejected = (tmp_path / "st" / "rejected.jsonl").read_text()
    assert '"duplicate_toy"' in rejected  # it linked rows the built-in steps left apart
    steps = {mode: {s["step"]: s for s in r.manifest["steps"]} for mode, r in (("off", mem), ("on", st))}
    assert steps["on"]["toy_dedup"]["out"] == steps["off"]["toy_dedup"]["out"] < steps["on"]["near_dedup"]["out"]
    assert steps["on"]["toy_dedup"]["details"]["pairs"] > 0


def test_a_link_step_without_a_streamed_split_is_refused_before_the_pass(tmp_path, pool, monkeypatch):
    from sft_select.core.errors import ConfigError
    from sft_select.preprocess import steps as steps_mod
    from sft_select.preprocess.steps import Step

    src, _ = pool
    monkeypatch.setattr(steps_mod, "STEPS", (*steps_mod.STEPS, Step("toy_dedup", lambda cfg, inputs: True,
                                                                    link=_toy_link)))
    with pytest.raises(ConfigError, match="toy_dedup does not run in a streaming run"):
        run([src], tmp_path / "st", cfg_for("on"))
    assert not (tmp_path / "st" / "cache").exists()  # refused before any chunk was read or saved
    run([src], tmp_path / "mem", cfg_for("off"))  # the in-memory engine runs it
