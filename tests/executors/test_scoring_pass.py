"""Scoring in one pass (`ScoreBatch` over every view) on both executors: equal to scoring view by view,
the Ray executor (a local instance with 2 CPUs) equal to the local one bit for bit, and the chunk
checkpoints and per-view cache files of `scoring` working on both."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from sft_select.executors.local import LocalExecutor
from sft_select.executors.ray import _in_order
from sft_select.models.embed.embedders import EmbeddingStore
from sft_select.scoring import driver as scoring
from sft_select.scoring.batch import ScoreBatch, decode
from sft_select.views.base import ViewResult
from sft_select.views.registry import build, registered
from views.viewdata import make_pool

# The default views; the two embedding views share one embedding per batch.
VIEWS = {"diversity": {"model": "hashing", "k": 4}, "quality_heuristic": {}, "relevance_dsir": {},
         "relevance_embedding": {"model": "hashing"}}
BATCH = 16


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 16 and chunks of 2 batches, so 200 rows make 7 chunks of which the last is short."""
    for name in VIEWS:
        monkeypatch.setattr(registered()[name], "default_batch_size", BATCH)
    monkeypatch.setattr(scoring, "CHECKPOINT_BATCHES", 2)
    monkeypatch.setattr(scoring, "CHECKPOINT_MIN_EXAMPLES", 1)


@pytest.fixture(scope="module")
def data():
    pool = make_pool({"python": 70, "cooking": 70, "astronomy": 60}, seed=11)
    target = make_pool({"python": 6}, seed=12)
    return pool, target


def views():
    return [build(name, params) for name, params in VIEWS.items()]


def assert_same(a: ViewResult, b: ViewResult) -> None:
    np.testing.assert_array_equal(a.raw, b.raw)  # bit for bit, NaNs in the same places
    assert a.reasons == b.reasons
    assert sorted(a.extra or {}) == sorted(b.extra or {})
    for key in a.extra or {}:
        assert a.extra[key].dtype == b.extra[key].dtype
        np.testing.assert_array_equal(a.extra[key], b.extra[key])


def test_one_pass_equals_each_view_alone(data, small_batches):
    pool, target = data
    together = scoring.score_views(views(), pool, target, LocalExecutor())
    for view, (result, seconds) in zip(views(), together):
        assert_same(result, scoring.score_view(view, pool, target, LocalExecutor()))
        assert seconds > 0


def test_one_pass_in_worker_processes_equals_one_process(data, small_batches, tmp_path, monkeypatch):
    """The local engine's worker processes (engine.workers): windows of batches forked per worker,
    the same scores, and every view's chunk checkpoints written."""
    from sft_select.executors import local
    from sft_select.executors import pool as parallel

    monkeypatch.setattr(local, "WINDOW_BATCHES", 2)  # 200 rows of batches of 16: 4 windows
    monkeypatch.setattr(local, "WINDOW_SECONDS", 0)  # windows that never grow
    pool, target = data
    serial = scoring.score_views(views(), pool, target, LocalExecutor())
    forks = []
    real = parallel.WorkerPool.start_parts

    def spy(self, fn, items, **kw):
        out = real(self, fn, items, **kw)
        if getattr(fn, "func", None) is local._run_batches:  # not the fits' embedding
            forks.append(out)
        return out

    monkeypatch.setattr(parallel.WorkerPool, "start_parts", spy)
    dirs = [tmp_path / name for name in VIEWS]
    with parallel.workers(2, min_items=2):
        forked = scoring.score_views(views(), pool, target, LocalExecutor(), checkpoints=dirs)
    assert len(forks) == 4 and all(f is not None for f in forks[:3])  # the last 8 rows: here
    for (a, _), (b, _) in zip(serial, forked):
        assert_same(a, b)
    assert all(len(list(d.iterdir())) == 7 for d in dirs)


def test_score_batch_columns_round_trip_and_a_shipped_copy_forgets_its_embeddings(data):
    pool, target = data
    fitted = [v.fit(pool, target) for v in views()]
    EmbeddingStore.clear()
    cols = ScoreBatch(fitted)(pool[:10])
    assert EmbeddingStore._memory, "the driver's copy keeps the memo the run's later steps read"
    for view in fitted:
        result, seconds = decode(view.name, cols)
        assert_same(result, view.score_batch(pool[:10]))
        assert seconds >= 0
    EmbeddingStore.clear()
    shipped = pickle.loads(pickle.dumps(ScoreBatch(fitted)))
    assert shipped(pool[10:20]).keys() == cols.keys()
    assert not EmbeddingStore._memory, "a worker's copy must not keep every vector it ever embedded"


def test_cut_re_cuts_any_batch_sizes_into_chunks():
    batches = [{"x": np.arange(s, e)} for s, e in [(0, 3), (3, 4), (4, 10)]]
    assert [c["x"].tolist() for c in scoring._cut(iter(batches), [4, 4, 2])] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(RuntimeError):
        list(scoring._cut(iter(batches), [4, 4]))  # rows left over
    with pytest.raises(RuntimeError):
        list(scoring._cut(iter(batches), [4, 8]))  # rows missing


def test_in_order_reorders_out_of_order_and_non_contiguous_batches():
    batches = [{"pos": np.array([6, 7]), "v": np.array([60, 70])},
               {"pos": np.array([3, 0, 1, 2]), "v": np.array([30, 0, 10, 20])},
               {"pos": np.array([5, 4]), "v": np.array([50, 40])}]
    runs = list(_in_order(iter(batches), 8))
    assert np.concatenate([r["v"] for r in runs]).tolist() == [0, 10, 20, 30, 40, 50, 60, 70]
    with pytest.raises(RuntimeError):
        list(_in_order(iter(batches[1:]), 8))  # positions 6 and 7 never came


# -- the Ray executor against the local one --------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_executor(ray_local):
    from sft_select.executors.ray import RayExecutor

    return RayExecutor()


@pytest.mark.parametrize("actors", [False, True], ids=["tasks", "actor-pool"])
def test_ray_scores_every_view_like_the_local_engine(data, small_batches, ray_executor, tmp_path, actors):
    """Both ways the Ray executor maps batches: pooled task workers (CPU work) and an actor pool (GPU work,
    forced here on a CPU-only instance)."""
    from sft_select.executors.ray import RayExecutor

    pool, target = data
    ray_executor = RayExecutor(actors=actors)
    local = scoring.score_all(views(), pool, target, LocalExecutor(), tmp_path / "local")
    ray_ = scoring.score_all(views(), pool, target, ray_executor, tmp_path / "ray")
    assert [s.name for s in ray_.scores] == [s.name for s in local.scores] == list(VIEWS)
    for a, b in zip(local.scores, ray_.scores):
        assert_same(ViewResult(a.raw, a.reasons, a.extra or None), ViewResult(b.raw, b.reasons, b.extra or None))
        assert not a.cached and not b.cached
    # the per-view cache files: one parquet per view, no checkpoint folder left, equal on both engines
    for engine in ("local", "ray"):
        assert sorted(p.suffix for p in (tmp_path / engine).iterdir()) == [".parquet"] * len(VIEWS)
    again = scoring.score_all(views(), pool, target, ray_executor, tmp_path / "local")
    assert all(s.cached for s in again.scores)


def test_ray_resumes_from_each_views_checkpoints(data, small_batches, ray_executor, tmp_path):
    """Chunks saved by an interrupted run are read back; only the missing ones are scored (two different
    sets of missing views here, so two passes), and the result equals an uninterrupted local run."""
    pool, target = data
    full = scoring.score_views(views(), pool, target, LocalExecutor())
    dirs = [tmp_path / name for name in VIEWS]
    scoring.score_views(views(), pool, target, ray_executor, checkpoints=dirs)
    saved = {d.name: sorted(d.iterdir()) for d in dirs}
    assert all(len(files) == 7 for files in saved.values())
    saved["diversity"][1].unlink()
    saved["relevance_dsir"][4].unlink()
    saved["relevance_dsir"][6].unlink()
    kept = {p: p.stat().st_mtime_ns for files in saved.values() for p in files if p.exists()}
    resumed = scoring.score_views(views(), pool, target, ray_executor, checkpoints=dirs)
    for (a, _), (b, _) in zip(full, resumed):
        assert_same(a, b)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items()), "a saved chunk was scored again"
    assert saved["diversity"][1].exists() and saved["relevance_dsir"][6].exists()


def test_ray_scores_an_empty_pool_and_a_pool_smaller_than_a_batch(data, ray_executor):
    pool, target = data
    for part in (pool[:0], pool[:5]):
        fitted = [v.fit(pool, target) for v in views()]
        got = scoring.score_fitted(fitted, part, ray_executor)
        for view, result in zip(fitted, got):
            assert len(result.raw) == len(part)
            if part:
                assert_same(result, view.score_batch(part))


def test_the_next_window_runs_while_the_caller_takes_a_windows_results(monkeypatch):
    """map_batches starts window k+1's workers before it yields window k's results, so what the caller
    does with them (the scoring pass writes its checkpoints) overlaps the workers' scoring."""
    from sft_select.executors import local
    from sft_select.executors import pool as parallel

    events = []
    real = parallel.WorkerPool.start_parts

    def spy(self, fn, items, **kw):
        events.append(("start", items[0]))
        return real(self, fn, items, **kw)

    monkeypatch.setattr(parallel.WorkerPool, "start_parts", spy)
    monkeypatch.setattr(local, "WINDOW_BATCHES", 1)  # windows of 2 workers x 1 batch of 8 = 16 rows
    monkeypatch.setattr(local, "WINDOW_SECONDS", 0)  # that never grow
    with parallel.workers(2, min_items=2):
        for cols in LocalExecutor().map_batches(lambda batch: {"x": np.array(batch)}, list(range(64)), batch_size=8):
            events.append(("got", int(cols["x"][0])))
    assert events == [("start", 0), ("start", 16), ("got", 0), ("got", 8), ("start", 32), ("got", 16), ("got", 24),
                      ("start", 48), ("got", 32), ("got", 40), ("got", 48), ("got", 56)]


def test_a_window_that_ends_quickly_is_followed_by_a_larger_one(monkeypatch):
    """After a window that took well under WINDOW_SECONDS, the next one takes the rest (whole batches):
    fewer forks, the same results in the same order."""
    from sft_select.executors import local
    from sft_select.executors import pool as parallel

    starts = []
    real = parallel.WorkerPool.start_parts

    def spy(self, fn, items, **kw):
        starts.append((items[0], len(items)))
        return real(self, fn, items, **kw)

    monkeypatch.setattr(parallel.WorkerPool, "start_parts", spy)
    monkeypatch.setattr(local, "WINDOW_BATCHES", 1)  # a first window of 2 workers x 1 batch of 8 = 16 rows
    with parallel.workers(2, min_items=2):
        got = [cols["x"].tolist() for cols in LocalExecutor().map_batches(
            lambda batch: {"x": np.array(batch) * 2}, list(range(100)), batch_size=8)]
    assert starts == [(0, 16), (16, 84)]
    assert got == [[2 * i for i in range(s, min(s + 8, 100))] for s in range(0, 100, 8)]
    assert local._next_window(16, 16, 20.0, 8) == 16  # a slow window: never shorter
    assert local._next_window(16, 16, 1.0, 8) == 160  # 10 s worth, in whole batches


def test_embedding_alongside_the_text_views_gives_the_scores_of_one_process(data, monkeypatch):
    """With workers on, one worker embeds the pool while this process scores the views that never read
    embeddings (sft_select.scoring.with_embeddings); every view's scores equal one process's, and the embedding
    really went ahead (a worker was started for it)."""
    from sft_select.executors import pool as parallel
    from sft_select.scoring.driver import score_views_ahead

    pool, target = data
    EmbeddingStore.clear()
    serial = scoring.score_views(views(), pool, target, LocalExecutor())
    EmbeddingStore.clear()
    seen = []
    real_finish = EmbeddingStore.embed_ahead

    def spy(*args, **kwargs):
        finish = real_finish(*args, **kwargs)
        seen.append(finish is not None)
        return finish

    monkeypatch.setattr(EmbeddingStore, "embed_ahead", spy)
    with parallel.workers(2, min_items=10):
        ahead = score_views_ahead(views(), pool, target, LocalExecutor(), [None] * len(VIEWS))
    assert seen == [True]
    for (a, _), (b, _) in zip(serial, ahead):
        assert_same(a, b)
    assert [v.reads_embeddings for v in views()] == [True, False, False, True]


def test_each_views_fit_has_a_bar_named_for_it(data, monkeypatch):
    """A fit (k-means, a learned model) can run for seconds before any row is scored: it gets a bar of its
    own, which core/progress shows once it has run ~2 s, and it is finished when the fit returns."""
    from contextlib import contextmanager

    opened: list[tuple[str, int]] = []
    done: list[int] = []

    @contextmanager
    def recording_bar(desc, total, **kwargs):
        opened.append((desc, total))
        yield done.append

    monkeypatch.setattr(scoring, "progress_bar", recording_bar)
    pool, target = data
    scoring.score_views(views(), pool, target, LocalExecutor())
    assert opened == [(f"fitting {view.name}", 1) for view in views()]
    assert done == [1] * len(views())
