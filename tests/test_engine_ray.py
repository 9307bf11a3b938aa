"""The Ray engine gives the same selection as the local engine (local Ray instance, 2 CPUs)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import write_file

ray = pytest.importorskip("ray", reason="ray[data] is not installed")


def test_ray_and_local_select_the_same_ids(tmp_path, demo_rows):
    import sft_select

    pool = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    target = write_file(demo_rows[1], tmp_path / "target.jsonl")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        selected = {}
        for engine in ("local", "ray"):
            cfg = sft_select.build_config({"select": {"n": 30}, "embedding": {"model": "hashing"},
                                           "engine": {"name": engine}})
            result = sft_select.run([pool], tmp_path / engine, cfg, target=target)
            selected[engine] = result.selected_ids
            raw = result.table.filter(like="_raw").to_numpy()
            selected[engine + "_raw"] = raw
        assert selected["ray"] == selected["local"]
        np.testing.assert_array_equal(selected["ray_raw"], selected["local_raw"])  # NaN == NaN here
    finally:
        ray.shutdown()
