"""Issue #23, "bad input never produces a traceback": one clear message, exit code 2, nothing lost or
half-written. Each test here failed before its fix (see docs/reliability.md for the before/after table).

Tests run as root, where chmod does not stop writes: a read-only or full disk is simulated by making the
write raise the OSError the kernel would (EROFS, EACCES, ENOSPC); a path under a file (ENOTDIR) is real.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_file


def _raise(constant: str):
    raise ValueError(f"non-strict JSON constant {constant}")


def strict_load(path: Path):
    """json.loads that refuses NaN / Infinity (what strict parsers, jq and JS, do)."""
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_raise)


def selected_digest(run: Path) -> str:
    t = pd.read_parquet(run / "scores.parquet")
    return hashlib.sha1(" ".join(sorted(t.loc[t["selected"], "id"])).encode()).hexdigest()


def no_traceback(output: str) -> None:
    assert "Traceback" not in output and "raise " not in output, output


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, demo_rows):
    """One finished run (with a target, so relevance views run) that tests copy before changing."""
    from typer.testing import CliRunner

    from sft_select.cli.app import app

    base = tmp_path_factory.mktemp("hardening")
    src = write_file(demo_rows[0], base / "pool.jsonl")
    tgt = write_file(demo_rows[1], base / "target.jsonl")
    out = base / "run"
    result = CliRunner().invoke(app, ["run", str(src), "--target", str(tgt), "-n", "30", "--out", str(out),
                                      "--embedder", "hashing", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def copy_run(run: Path, where: Path) -> Path:
    dest = where / "copy"
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns(".sft-select-run"))
    return dest


# ---------------------------------------------------------------- 3: infinite, negative, huge weights


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e309", "-1"])
def test_weights_flag_refuses_non_finite_and_negative(tmp_path, cli, demo_rows, value):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    code, output = cli("run", src, "--out", tmp_path / "r", "-n", "10", "--embedder", "hashing",
                       "--weights", f"quality_heuristic={value},diversity=1")
    assert code == 2, output
    assert "--weights" in output and "finite" in output
    no_traceback(output)
    assert not (tmp_path / "r" / "manifest.json").exists()


def test_config_weight_inf_names_the_key(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("views:\n  settings:\n    diversity:\n      weight: .inf\n")
    code, output = cli("run", src, "--config", cfg, "--out", tmp_path / "r", "-n", "10", "--embedder", "hashing")
    assert code == 2, output
    assert "views.settings.diversity.weight" in output and "finite" in output
    no_traceback(output)


def test_huge_weights_normalize_to_their_ratio(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    out = tmp_path / "r"
    code, output = cli("run", src, "--out", out, "-n", "10", "--embedder", "hashing", "-q",
                       "--weights", "quality_heuristic=1e308,diversity=1e308")
    assert code == 0, output
    manifest = strict_load(out / "manifest.json")
    assert manifest["views"]["weights"] == {"quality_heuristic": 0.5, "diversity": 0.5} or \
        sorted(manifest["views"]["weights"].values()) == [0.5, 0.5]
    assert manifest["counts"]["selected"] == 10
    scores = pd.read_parquet(out / "scores.parquet")
    assert scores.loc[scores["reason"].isna() | scores["selected"], "score"].notna().all()


def test_resolve_weights_overflow_and_bad_values():
    from sft_select.core.errors import ConfigError
    from sft_select.selection.combine import ViewWeight, resolve_weights

    assert resolve_weights([ViewWeight("a", 1e308), ViewWeight("b", 1e308)]) == {"a": 0.5, "b": 0.5}
    w = resolve_weights([ViewWeight("a", 1e308), ViewWeight("b", 3e307), ViewWeight("c", None)])
    assert w["c"] == 0.0 and abs(w["a"] / w["b"] - 10 / 3) < 1e-9
    for bad in (float("inf"), float("nan"), -1.0):
        with pytest.raises(ConfigError, match="finite"):
            resolve_weights([ViewWeight("a", bad), ViewWeight("b", 1.0)])


def test_manifest_is_strict_json(tmp_path):
    import numpy as np

    from sft_select.rundir.manifest import strict_json, write_strict_json

    obj = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": np.float64("nan"), "d": np.int64(3),
           "e": (np.float32(2.0), np.bool_(True)), 4: np.array([1.0, np.nan]), "f": Path("x")}
    write_strict_json(tmp_path / "m.json", obj)
    back = strict_load(tmp_path / "m.json")
    assert back == {"a": None, "b": [None, None, 1.5], "c": None, "d": 3, "e": [2.0, True], "4": [1.0, None],
                    "f": "x"}
    assert strict_json({"x": [float("nan")]}) == {"x": [None]}


def test_run_manifest_parses_strictly(finished_run):
    strict_load(finished_run / "manifest.json")


# ---------------------------------------------------------------- 11: select is history-free


def test_select_does_not_depend_on_earlier_selects(tmp_path, cli, finished_run):
    run = copy_run(finished_run, tmp_path)
    a = ("--weights", "relevance_embedding=1")
    b = ("--weights", "quality_heuristic=1")
    assert cli("select", run, *a, "-q")[0] == 0
    first, weights_first = selected_digest(run), strict_load(run / "manifest.json")["views"]["weights"]
    assert cli("select", run, *b, "-q")[0] == 0
    assert selected_digest(run) != first
    code, output = cli("select", run, *a, "-q")
    assert code == 0, output
    assert selected_digest(run) == first
    assert strict_load(run / "manifest.json")["views"]["weights"] == weights_first
    # unnamed views get what the named ones leave: 0, as `run --weights` gives them
    assert weights_first["relevance_embedding"] == 1.0 and sum(weights_first.values()) == 1.0


def test_select_matches_run_with_the_same_weights(tmp_path, cli, demo_rows, finished_run):
    run = copy_run(finished_run, tmp_path)
    assert cli("select", run, "--weights", "quality_heuristic=1", "-q")[0] == 0
    assert cli("select", run, "--weights", "relevance_embedding=0.7,diversity=0.3", "-q")[0] == 0
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    tgt = write_file(demo_rows[1], tmp_path / "target.jsonl")
    fresh = tmp_path / "fresh"
    code, output = cli("run", src, "--target", tgt, "-n", "30", "--out", fresh, "--embedder", "hashing", "-q",
                       "--weights", "relevance_embedding=0.7,diversity=0.3")
    assert code == 0, output
    assert strict_load(run / "manifest.json")["views"]["weights"] == \
        strict_load(fresh / "manifest.json")["views"]["weights"]
    assert selected_digest(run) == selected_digest(fresh)


def test_select_without_flags_returns_to_the_run(tmp_path, cli, finished_run):
    run = copy_run(finished_run, tmp_path)
    original = selected_digest(run)
    assert cli("select", run, "--weights", "quality_heuristic=1", "-n", "12", "-q")[0] == 0
    assert cli("select", run, "-q")[0] == 0
    assert selected_digest(run) == original


def test_select_help_documents_the_rule(cli):
    code, output = cli("select", "--help")
    assert code == 0
    flat = " ".join(output.split())
    assert "never from what an earlier select saved" in flat


# ---------------------------------------------------------------- 5: YAML alias bomb


def alias_bomb(levels: int = 9) -> str:
    lines = ["views:", "  settings:", "    quality_heuristic:", "      params:", "        truncation:",
             '          - &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghijk"[:levels - 1]:
        lines.append(f"          - &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    lines.append(f"        min_words: *{prev}")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_fast(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(alias_bomb())
    assert len(cfg.read_bytes()) < 600
    start = time.perf_counter()
    code, output = cli("run", src, "--config", cfg, "--out", tmp_path / "r", "-n", "5", "--embedder", "hashing")
    assert time.perf_counter() - start < 5
    assert code == 2, output
    assert "alias" in output and str(cfg) in output
    assert len(output) < 2000
    no_traceback(output)


def test_recursive_alias_and_deep_nesting_are_refused(tmp_path):
    from sft_select.config.schema import load_config
    from sft_select.core.errors import ConfigError

    cfg = tmp_path / "c.yaml"
    for text, words in (("a: &a [*a]\n", "contains it"), ("seed: " + "[" * 150 + "]" * 150 + "\n", "deep"),
                        ("seed: " + "[" * 5000 + "]" * 5000 + "\n", "deep")):
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=words):
            load_config(cfg)


def test_small_aliases_still_load(tmp_path):
    from sft_select.config.schema import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("select: &s {n: 7}\npreprocess:\n  decontaminate:\n    files: &f [a.jsonl, b.jsonl]\n")
    loaded = load_config(cfg)
    assert loaded.select.n == 7 and [str(f) for f in loaded.preprocess.decontaminate.files] == ["a.jsonl", "b.jsonl"]


def test_config_error_quotes_are_bounded():
    from sft_select.core.textsafe import brief, clip

    big = ["x" * 100] * 10
    nested = big
    for _ in range(30):
        nested = [nested] * 9  # 9^30 leaves: a full repr would never finish
    start = time.perf_counter()
    assert len(brief(nested)) <= 201 and time.perf_counter() - start < 1
    assert len(clip("y" * 10_000)) < 260


# ---------------------------------------------------------------- 6: rich markup in user strings


def test_out_with_rich_markup_completes(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    out = tmp_path / "x[/bold]y[red]z"
    code, output = cli("run", src, "--out", out, "-n", "10", "--embedder", "hashing")
    assert code == 0, output
    assert (out / "manifest.json").exists()
    assert "[/bold]y[red]z" in output.replace("\n", "")  # printed as written, not eaten as markup (rich may fold it)
    for args in (("select", out, "-n", "5"), ("report", out, "--no-map"), ("inspect", out)):
        code, output = cli(*args)
        assert code == 0, (args, output)
    dedup_out = tmp_path / "d[/]e[bold]"
    code, output = cli("dedup", src, "--out", dedup_out)
    assert code == 0, output
    assert "d[/]e[bold]" in output.replace("\n", "")
    code, output = cli("init", tmp_path / "c[/red].yaml")
    assert code == 0 and "c[/red].yaml" in output.replace("\n", "")


def test_info_survives_unescaped_markup(capsys):
    from sft_select.core import progress

    progress.info("Report → /tmp/a[/bold]b/report.html")  # a caller that forgot to escape
    progress.debug("x[/]")


# ---------------------------------------------------------------- 9: terminal escapes in data


FAKE = "Nope.\x1b[2J\x1b[32mSelected: KEEP\x1b[0m\x9b31m\u202e"


@pytest.fixture(scope="module")
def escape_run(tmp_path_factory, demo_rows):
    from typer.testing import CliRunner

    from sft_select.cli.app import app

    base = tmp_path_factory.mktemp("escapes")
    rows = [dict(r) for r in demo_rows[0]]
    rows[0]["output"] = FAKE
    rows[1]["instruction"] = "\x1b]0;pwned\x07" + rows[1]["instruction"]
    src = write_file(rows, base / "pool.jsonl")
    out = base / "run"
    result = CliRunner().invoke(app, ["run", str(src), "-n", "30", "--out", str(out), "--embedder", "hashing",
                                      "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    t = pd.read_parquet(out / "scores.parquet")
    return out, str(t.loc[t["row"] == 0, "id"].iloc[0]), str(t.loc[t["row"] == 1, "id"].iloc[0])


def test_explain_prints_no_escape_sequences(cli, escape_run):
    out, first, second = escape_run
    for id_ in (first, second):
        code, output = cli("explain", out, id_)
        assert code == 0, output
        assert "\x1b" not in output and "\x9b" not in output and "\x07" not in output and "\u202e" not in output
    assert "\\x1b[2J\\x1b[32mSelected: KEEP" in cli("explain", out, first)[1]


def test_explain_on_a_terminal_draws_no_fake_verdict(escape_run):
    from rich.console import Console

    from sft_select.report.explain import explain
    from sft_select.report.html import json_safe
    from sft_select.report.rundata import open_run
    from sft_select.report.summary import build_summary
    from sft_select.report.terminal import print_explain, print_inspect

    out, first, _ = escape_run
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="truecolor", width=120)
    data = open_run(out)
    print_explain(explain(data, first), console=console)
    print_inspect(json_safe(build_summary(data, with_map=False)), console=console)
    text = buf.getvalue()
    assert "\x1b[2J" not in text and "\x1b[32mSelected" not in text and "\x9b" not in text
    assert "\\x1b[2J" in text


def test_error_quoting_a_value_escapes_it(cli, escape_run):
    out, _, _ = escape_run
    code, output = cli("explain", out, "zz\x1b[2Jzz")
    assert code == 2 and "\x1b" not in output and "\\x1b[2J" in output


def test_printable():
    from sft_select.core.textsafe import printable

    assert printable("a\tb\nc\x1b[0m\x00\x7f\x85\u202e") == "a\tb\nc\\x1b[0m\\x00\\x7f\\x85\\u202e"


# ---------------------------------------------------------------- 7: tracebacks where a message is due


def test_config_given_a_folder(tmp_path, cli, demo_rows):
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    (tmp_path / "cfg").mkdir()
    code, output = cli("run", src, "--config", tmp_path / "cfg", "--out", tmp_path / "r", "-n", "5")
    assert code == 2 and "folder" in output and str(tmp_path / "cfg") in output
    no_traceback(output)


def test_out_under_a_file(tmp_path, cli, demo_rows):
    """A real ENOTDIR: --out names a path below a plain file."""
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    (tmp_path / "afile").write_text("x")
    for command in ("run", "dedup"):
        extra = ("-n", "5", "--embedder", "hashing") if command == "run" else ()
        code, output = cli(command, src, "--out", tmp_path / "afile" / "sub", *extra)
        assert code == 2, output
        assert "afile" in output and "Not a directory" in output
        no_traceback(output)


@pytest.mark.parametrize("err,words", [(errno.EROFS, "read-only"), (errno.EACCES, "permission"),
                                       (errno.EPERM, "permitted")])
def test_unwritable_out_is_one_message(tmp_path, cli, demo_rows, monkeypatch, err, words):
    """Root ignores chmod 555, so the kernel's refusal is simulated where the run folder is created."""
    import os

    from sft_select.pipelines import in_memory as pipeline

    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    out = tmp_path / "ro" / "run"

    def refuse(path, *a, **k):  # what mkdir gives in a read-only folder
        raise OSError(err, os.strerror(err), str(path))

    monkeypatch.setattr(pipeline, "prepare", refuse)
    code, output = cli("run", src, "--out", out, "-n", "5", "--embedder", "hashing")
    assert code == 2, output
    assert str(out) in output and words in output.lower()
    assert len(output.strip().splitlines()) <= 3
    no_traceback(output)


def test_disk_full_is_one_message_and_the_same_command_resumes(tmp_path, cli, demo_rows, monkeypatch):
    from sft_select.pipelines import in_memory as pipeline

    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    out = tmp_path / "run"
    args = ("run", src, "--out", out, "-n", "10", "--embedder", "hashing")

    def full(*a, **k):  # what write(2) gives: ENOSPC, no file name
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "write_outputs", full)
    code, output = cli(*args)
    assert code == 2, output
    assert "No space left on device" in output and str(out) in output
    assert "free some space" in output and "same command" in output
    no_traceback(output)
    assert not (out / "manifest.json").exists(), "an unfinished run must not look finished"
    monkeypatch.undo()
    code, output = cli(*args)
    assert code == 0, output
    assert "Resuming" in output and "reused from the cache" in output
    assert strict_load(out / "manifest.json")["counts"]["selected"] == 10


def test_bad_embedder_folder(tmp_path, cli, demo_rows):
    pytest.importorskip("sentence_transformers")
    src = write_file(demo_rows[0], tmp_path / "pool.jsonl")
    for name, files in (("nomodeltype", {"config.json": "{}"}),
                        ("badweights", {"config.json": json.dumps({"model_type": "bert", "hidden_size": 32,
                                                                   "num_hidden_layers": 1, "vocab_size": 99,
                                                                   "num_attention_heads": 2,
                                                                   "intermediate_size": 37}),
                                        "model.safetensors": "garbage"})):
        folder = tmp_path / name
        folder.mkdir()
        for fname, text in files.items():
            (folder / fname).write_text(text)
        code, output = cli("run", src, "--out", tmp_path / f"r-{name}", "-n", "5", "--embedder", folder)
        assert code == 2, output
        assert "embedding.model" in output and "--embedder" in output and str(folder) in output
        no_traceback(output)


def test_bad_model_folders_behind_the_lm_options(tmp_path):
    pytest.importorskip("transformers")
    from sft_select.core.errors import ConfigError
    from sft_select.evaluate.proxy_lm import LoRAProxy
    from sft_select.models.lm.loader import get_lm
    from sft_select.views.quality_reward import _load

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    (folder / "model.safetensors").write_text("garbage")
    for call, option in ((lambda: get_lm(str(folder), "cpu", "float32"), "views.settings.<view>.params.model"),
                         (lambda: LoRAProxy(model=str(folder), device="cpu").base_loss([]), "evaluate.lm.model"),
                         (lambda: _load(str(folder), "cpu"), "quality_reward.params.path")):
        with pytest.raises(ConfigError) as info:
            call()
        assert option in str(info.value) and str(folder) in str(info.value)
        assert "\n" not in str(info.value) and len(str(info.value)) < 700


@pytest.mark.parametrize("command", ["select", "report", "inspect", "explain", "tune"])
def test_corrupt_scores_parquet(tmp_path, cli, finished_run, demo_rows, command):
    run = copy_run(finished_run, tmp_path)
    data = (run / "scores.parquet").read_bytes()
    (run / "scores.parquet").write_bytes(data[: len(data) // 2])
    extra = {"explain": ("abcd",), "report": ("--no-map",),
             "tune": ("--validation", write_file(demo_rows[1], tmp_path / "val.jsonl"))}.get(command, ())
    code, output = cli(command, run, *extra)
    assert code == 2, output
    assert "scores.parquet" in output and "unreadable score table" in output
    no_traceback(output)


@pytest.mark.parametrize("command", ["select", "tune", "augment"])
def test_manifest_without_config_needed(tmp_path, cli, finished_run, demo_rows, command):
    run = copy_run(finished_run, tmp_path)
    m = json.loads((run / "manifest.json").read_text())
    del m["config"]
    (run / "manifest.json").write_text(json.dumps(m))
    extra = {"tune": ("--validation", write_file(demo_rows[1], tmp_path / "val.jsonl"))}.get(command, ())
    code, output = cli(command, run, *extra)
    assert code == 2, output
    assert "manifest.json" in output and "'config'" in output
    no_traceback(output)


@pytest.mark.parametrize("command", ["report", "inspect", "explain"])
def test_manifest_without_config_read_only_commands(tmp_path, cli, finished_run, command):
    """The report commands only read settings with defaults from the config, so they still work."""
    run = copy_run(finished_run, tmp_path)
    m = json.loads((run / "manifest.json").read_text())
    del m["config"]
    (run / "manifest.json").write_text(json.dumps(m))
    t = pd.read_parquet(run / "scores.parquet")
    extra = {"explain": (str(t["id"].iloc[0]),), "report": ("--no-map",)}.get(command, ())
    code, output = cli(command, run, *extra)
    assert code == 0, output


@pytest.mark.parametrize("manifest", ["[1, 2]", '{"config": 3}', '{"config": {}, "inputs": "x"}', "{nope"])
@pytest.mark.parametrize("command", ["select", "report", "inspect", "explain"])
def test_damaged_manifest(tmp_path, cli, finished_run, command, manifest):
    run = copy_run(finished_run, tmp_path)
    (run / "manifest.json").write_text(manifest)
    extra = {"explain": ("abcd",), "report": ("--no-map",)}.get(command, ())
    code, output = cli(command, run, *extra)
    assert code == 2, output
    assert "manifest.json" in output
    no_traceback(output)
