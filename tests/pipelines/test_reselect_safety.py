"""`sft-select select` rewrites a finished run: killed half-way it must leave an unfinished run (no
manifest), never a finished-looking run whose outputs disagree with its manifest."""
import importlib
import json

import pytest

from sft_select.config.schema import build_config
from sft_select.pipelines.in_memory import run

reselect_mod = importlib.import_module("sft_select.pipelines.reselect")  # the package exports a function of that name


def test_reselect_killed_while_writing_leaves_an_unfinished_run(tmp_path, monkeypatch):
    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"Question number {i} about topic {i % 7}?", "input": "",
                                       "output": f"An answer {i} that talks about topic {i % 7} at some length."})
                           + "\n" for i in range(40)))
    cfg = build_config({"embedding": {"model": "hashing"}, "select": {"n": 10}, "report": {"enabled": False}})
    run([src], tmp_path / "r", cfg)
    assert (tmp_path / "r" / "manifest.json").exists()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reselect_mod, "write_outputs", killed)
    with pytest.raises(KeyboardInterrupt):
        reselect_mod.reselect(tmp_path / "r", {"select": {"n": 5}})
    assert not (tmp_path / "r" / "manifest.json").exists()
    monkeypatch.undo()
    # `run` resumes the unfinished folder without --force
    again = run([src], tmp_path / "r", cfg)
    assert len(again.selected_ids) == 10
