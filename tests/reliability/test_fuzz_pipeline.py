"""Property-based tests of whole runs: any input ends in a finished run or in exit code 2 with one message.

A finished run must account for every input row: each is in selected.<fmt> or in rejected.jsonl with a
reason, unchanged. The input file is never modified.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from sft_select.cli.app import app
from sft_select.config.schema import build_config
from sft_select.core.errors import SftSelectError
from sft_select.pipelines.in_memory import run

from .fuzz import CONTAINERS, any_text, encode_rows, format_rows, fuzz_settings, record

words = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)
good_rows = st.one_of(
    st.fixed_dictionaries({"instruction": words, "input": st.just("") | words, "output": words | st.just("")}),
    st.fixed_dictionaries({"messages": st.lists(st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool", "gpt"]), "content": words}),
        min_size=1, max_size=4)}),
)


def _canon(row) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=True)


@fuzz_settings(25)
@given(rows=st.lists(st.one_of(good_rows, good_rows, good_rows, format_rows()), min_size=1, max_size=12),
       n=st.integers(1, 15), on_error=st.sampled_from(["fail", "skip", "skip"]),
       normalize=st.sampled_from(["rank", "minmax", "zscore"]),
       with_target=st.booleans())
def test_a_run_finishes_or_fails_clearly_and_loses_no_row(rows, n, on_error, normalize, with_target) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "pool.jsonl"
        pool.write_bytes(encode_rows(rows, "jsonl"))
        before = pool.read_bytes()
        target = Path(tmp) / "target.jsonl"
        target.write_text(json.dumps({"instruction": "How do I sort a list?", "output": "sorted(x)"}) + "\n")
        cfg = build_config({"select": {"n": n}, "input": {"on_error": on_error},
                            "combine": {"normalize": normalize},
                            "views": {"use": ["quality_heuristic", "relevance_embedding"] if with_target
                                      else ["quality_heuristic"]},
                            "embedding": {"model": "hashing"}})
        try:
            result = run([pool], Path(tmp) / "run", cfg, target=target if with_target else None)
        except SftSelectError as exc:
            assert str(exc) and "\n" not in str(exc)
            record("pipeline_runs", "clear error")
            return
        finally:
            assert pool.read_bytes() == before, "the input was modified"
        out = Path(tmp) / "run"
        selected = [json.loads(line) for line in (out / "selected.jsonl").read_text("utf-8").split("\n")[:-1]]
        rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text("utf-8").split("\n")[:-1]]
        assert len(selected) == len(result.selected_ids) <= n
        assert all(r["reason"] for r in rejected)
        # rejected rows that could not be parsed are kept as their text; the rest as the row itself
        got = sorted([_canon(r) for r in selected] + [_canon(r["row"]) for r in rejected if isinstance(r["row"], dict)])
        unreadable = [r for r in rejected if not isinstance(r["row"], dict)]
        assert len(got) + len(unreadable) == len(rows), "a row went missing"
        assert set(got) <= {_canon(r) for r in rows}, "a row was altered"
        scores = result.table["score"].dropna()
        assert ((scores >= 0) & (scores <= 1)).all()
        record("pipeline_runs", "finished")


@fuzz_settings(25)
@given(data=st.binary(max_size=400) | st.lists(format_rows(), max_size=5).map(lambda r: encode_rows(r, "jsonl")),
       container=st.sampled_from(CONTAINERS), on_error=st.sampled_from(["fail", "skip"]),
       weight=st.none() | any_text)
def test_the_cli_never_shows_a_traceback(data: bytes, container: str, on_error: str, weight) -> None:
    """Whatever the file holds, `sft-select run` exits 0 or 2 with a message, never with a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / f"pool.{container}"
        pool.write_bytes(data)
        args = ["run", str(pool), "-n", "3", "--views", "quality_heuristic", "--on-error", on_error,
                "--out", str(Path(tmp) / "run")]
        if weight is not None:  # a --weights value of any text: a config error, or accepted
            args += ["--weights", f"quality_heuristic={weight}"]
        result = CliRunner().invoke(app, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code in (0, 2), (result.exit_code, result.output)
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert "error:" in result.output
        record("cli_runs", f"exit {result.exit_code}")
