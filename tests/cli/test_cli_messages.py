"""What the command line says: --version, -q on every command, the messages of an empty or conflicting
selection, --strategy, init's one line, and an honest Ctrl-C message."""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from conftest import make_pool, write_file
from sft_select.cli.app import app


def invoke(*args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """60 rows selected down to 10 with the model-free embedder (about a second)."""
    base = tmp_path_factory.mktemp("messages")
    pool, _ = make_pool(60, seed=4)
    src = write_file(pool, base / "pool.jsonl")
    code, out, err = invoke("run", src, "-n", "10", "--out", base / "run", "--embedder", "hashing", "-q")
    assert code == 0, out + err
    return base / "run"


def test_version_prints_the_package_version():
    from sft_select import __version__

    code, out, _ = invoke("--version")
    assert code == 0 and out.strip() == f"sft-select {__version__}"


def test_every_registered_command_takes_quiet_and_verbose():
    commands = typer.main.get_command(app).commands
    assert {"run", "score", "select", "init", "dedup", "tune", "augment", "report", "explain", "inspect",
            "train-quality"} <= set(commands)
    for name, command in commands.items():
        opts = {opt for param in command.params for opt in param.opts}
        assert {"-q", "--quiet", "-v", "--verbose"} <= opts, name


def test_quiet_silences_the_libraries_output(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    transformers = pytest.importorskip("transformers")
    variables = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY",
                 "TRANSFORMERS_NO_ADVISORY_WARNINGS")
    for name in variables:
        monkeypatch.delenv(name, raising=False)
    before = transformers.utils.logging.get_verbosity()
    try:
        code, out, err = invoke("init", tmp_path / "c.yaml", "-q")
        assert code == 0 and out == "" and err == ""
        assert transformers.utils.logging.get_verbosity() == logging.ERROR
        assert not transformers.utils.logging.is_progress_bar_enabled()
        assert not datasets.utils.logging.is_progress_bar_enabled()
    finally:  # the rest of the session keeps the libraries' defaults
        for name in variables:
            monkeypatch.delenv(name, raising=False)
        transformers.utils.logging.set_verbosity(before)
        with warnings.catch_warnings():  # a library that read the variable at import says it still wins
            warnings.simplefilter("ignore")
            transformers.utils.logging.enable_progress_bar()
            datasets.enable_progress_bars()
        from sft_select.core import progress

        progress.configure()


def test_a_threshold_that_selects_nothing_says_so(small_run):
    code, out, err = invoke("select", small_run, "--threshold", "0.999")
    assert code == 0
    said = " ".join(err.split())  # the console wraps at 80 columns
    assert "--threshold 0.999 selected nothing" in said and "lower it" in said and "highest combined score" in said


def test_strategy_flag_sets_the_selection_strategy(small_run):
    code, out, err = invoke("select", small_run, "-n", "10", "--strategy", "random", "-q")
    assert code == 0, out + err
    manifest = json.loads((small_run / "manifest.json").read_text())
    assert manifest["config"]["select"]["strategy"] == "random"
    code, out, err = invoke("select", small_run, "--strategy", "nonesuch")
    assert code == 2 and "nonesuch" in err and "top" in err  # the registry's names
    assert len(err.strip().splitlines()) == 1


def test_run_takes_strategy(tmp_path):
    src = write_file(make_pool(30, seed=5)[0], tmp_path / "pool.jsonl")
    code, out, err = invoke("run", src, "-n", "5", "--strategy", "random", "--out", tmp_path / "run",
                            "--embedder", "hashing", "-q")
    assert code == 0, out + err
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["select"]["strategy"] == "random"


def test_n_and_fraction_together_name_the_flags(small_run):
    code, out, err = invoke("select", small_run, "-n", "5", "--fraction", "0.5")
    assert code == 2
    assert "-n" in err and "--fraction" in err and "manifest" not in err
    assert len(err.strip().splitlines()) == 1


def test_init_writes_the_file_and_says_where_in_one_line(tmp_path):
    path = tmp_path / "sft-select.yaml"
    code, out, err = invoke("init", path)
    assert code == 0 and out == ""
    assert "".join(err.split()) == f"Wrote{path}"  # one message (the console wraps a long path at 80 columns)
    assert isinstance(yaml.safe_load(path.read_text()), dict)


def test_ctrl_c_in_tune_says_its_evaluations_are_cached_and_augment_does_not(tmp_path, monkeypatch):
    """tune caches each finished proxy evaluation (tune/evaluations.py), so its stop message may say so;
    augment caches nothing and must not."""
    import sft_select.pipelines.tune as tune_pipeline
    import sft_select.rundir.reopen as reopen

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune_pipeline, "tune_run", stop)
    code, out, err = invoke("tune", tmp_path, "--validation", tmp_path / "v.jsonl")
    assert code == 130
    assert "interrupted: finished steps are cached; run the same command to resume" in out + err
    monkeypatch.setattr(reopen, "reopen", stop)
    code, out, err = invoke("augment", tmp_path)
    assert code == 130
    assert "interrupted" in out + err and "cached" not in out + err


def test_a_full_disk_in_augment_does_not_claim_cached_steps(tmp_path, monkeypatch):
    import errno

    import sft_select.rundir.reopen as reopen

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(reopen, "reopen", full)
    code, out, err = invoke("augment", tmp_path)
    assert code == 2 and "free some space" in err and "cached" not in err
    assert len(err.strip().splitlines()) == 1


def test_score_says_what_it_scored_not_that_it_selected_nothing(tmp_path):
    src = write_file(make_pool(30, seed=6)[0], tmp_path / "pool.jsonl")
    code, out, err = invoke("score", src, "--out", tmp_path / "run", "--embedder", "hashing")
    assert code == 0, out + err
    said = " ".join((out + err).split())
    assert "Selected" not in said and "Scored 30 examples with" in said and "sft-select select" in said


@pytest.mark.parametrize("flags, named", [
    (["--threshold", "5"], "--threshold: "),
    (["--strategy", "nope"], "--strategy: unknown 'nope'"),
    (["-n", "-3"], "-n: "),
    (["--weights", "nope=1"], "--weights: unknown view(s) ['nope']"),
    (["--output-format", "csv"], "--output-format: "),
])
def test_a_bad_flag_value_is_named_by_its_flag_not_by_the_manifest(small_run, flags, named):
    before = (small_run / "manifest.json").read_bytes()
    code, out, err = invoke("select", small_run, *flags)
    assert code == 2
    assert f"command line: {named}" in out + err
    assert "manifest.json" not in out + err
    assert (small_run / "manifest.json").read_bytes() == before  # refused before anything was touched


def test_a_bad_value_under_a_flag_names_the_flag_and_the_key():
    from sft_select.cli.app import check_flags
    from sft_select.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"command line: --weights \(quality_heuristic.weight\): "):
        check_flags({"views": {"settings": {"quality_heuristic": {"weight": -1}}}})
