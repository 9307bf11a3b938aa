"""Embedding from both ends (sft_select.models.embed.both_ends): every row is filled, whatever the interleaving."""
from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

from sft_select.executors import pool as parallel
from sft_select.models.embed.both_ends import BothEnds


def _encoder(delays: random.Random | None = None):
    def encode(texts):
        if delays is not None:
            time.sleep(delays.random() * 0.002)  # lets the other side run in between
        return np.array([[float(t) + 1.0, 0.5] for t in texts], dtype=np.float32)
    return encode


def _expected(n: int) -> np.ndarray:
    return np.stack([np.arange(n, dtype=np.float32) + 1.0, np.full(n, 0.5, np.float32)], axis=1)


@pytest.mark.parametrize("seed", range(12))
def test_both_ends_at_once_fill_every_row(seed):
    n = random.Random(seed).randint(1, 90)
    ends = BothEnds(_encoder(random.Random(seed)), [str(i) for i in range(n)],
                    np.zeros((n, 2), np.float32), batch_size=random.Random(seed + 1).randint(1, 9))
    stops = {}
    worker = threading.Thread(target=lambda: stops.setdefault("front", ends.from_front()))
    worker.start()
    time.sleep(random.Random(seed + 2).random() * 0.01)  # this side joins at some point, as after scoring
    stops["back"] = ends.from_back()
    worker.join()
    assert stops["front"] >= stops["back"]  # the two sides' rows cover [0, n) between them
    np.testing.assert_array_equal(ends.out, _expected(n))


def test_one_side_alone_does_everything():
    ends = BothEnds(_encoder(), [str(i) for i in range(10)], np.zeros((10, 2), np.float32), batch_size=3)
    assert ends.from_back() == 0
    assert ends.from_front() == 0  # nothing left for the worker
    np.testing.assert_array_equal(ends.out, _expected(10))


def test_a_forked_worker_and_this_process_share_the_rows():
    """As EmbeddingStore.embed_ahead runs it: the worker writes into shared memory this process reads."""
    n = 2000  # ~0.3 s of the worker's batches: this process joins well before the end
    ends = BothEnds(_encoder(random.Random(0)), [str(i) for i in range(n)],
                    parallel.shared_array((n, 2), np.float32), batch_size=7)
    with parallel.workers(2):
        pending = parallel.background(lambda _part: ends.from_front(), [None])
        assert pending is not None
        time.sleep(0.02)
        back = ends.from_back()
        front = pending.result()
    assert 0 < back <= front  # both took part
    np.testing.assert_array_equal(ends.out, _expected(n))
