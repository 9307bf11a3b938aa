"""Safe loading: nothing a user's file says is executed, and nothing is written outside the run directory.

The static checks read every module under src/ (whatever other steps add later), so a new
`pickle.load` or `trust_remote_code=True` fails here before it ships.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sft_select.cli.app import app
from sft_select.config.schema import build_config, load_config
from sft_select.core.errors import ConfigError, RunDirError
from sft_select.io.atomic import atomic_open, atomic_path
from sft_select.pipelines.in_memory import run
from sft_select.rundir.folder import inside, prepare, release

from .helpers import SRC

FORBIDDEN = {
    r"\bpickle\.loads?\(": "unpickling runs code from the file",
    r"\b(c|_)?[Pp]ickle\.Unpickler\b": "unpickling runs code from the file",
    r"\b(joblib|dill|cloudpickle|marshal|shelve)\.(load|loads|open)\(": "a pickle-based loader",
    r"\bpd\.read_pickle\(|\bread_pickle\(": "a pickle-based loader",
    r"allow_pickle\s*=\s*True": "np.load with pickles runs code from the file",
    r"\byaml\.(load|unsafe_load|full_load|load_all|unsafe_load_all|full_load_all)\(": "use yaml.safe_load",
    r"Loader\s*=\s*yaml\.(Loader|UnsafeLoader|FullLoader)": "use yaml.safe_load",
    r"trust_remote_code\s*=\s*True": "remote code must stay off unless the user asks for it",
    r"use_safetensors\s*=\s*False": "models load from safetensors (or GGUF) only",
    r"(?<![\w.])eval\(": "eval of text",
    r"(?<![\w.])exec\(": "exec of text",
    r"shell\s*=\s*True": "a shell command built from strings",
}


def _sources() -> list[Path]:
    files = sorted((SRC / "sft_select").rglob("*.py"))
    assert len(files) > 20, "the source tree was not found"
    return files


@pytest.mark.parametrize("pattern", sorted(FORBIDDEN))
def test_no_unsafe_loader_in_the_source(pattern: str) -> None:
    hits = []
    for path in _sources():
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if re.search(pattern, code):
                hits.append(f"{path.relative_to(SRC)}:{no}: {line.strip()}")
    assert not hits, f"{FORBIDDEN[pattern]}:\n" + "\n".join(hits)


def test_torch_load_is_always_weights_only() -> None:
    hits = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\btorch\.load\(", text):
            call = text[match.end(): match.end() + 300].split(")\n", 1)[0]
            if not re.search(r"weights_only\s*=\s*True", call):
                hits.append(f"{path.relative_to(SRC)}: torch.load without weights_only=True")
    assert not hits, "\n".join(hits)


def test_the_static_check_catches_what_it_looks_for() -> None:
    bad = ["data = pickle.load(fh)", "np.load(p, allow_pickle=True)", "yaml.load(text)",
           "AutoModel.from_pretrained(p, trust_remote_code=True)", "x = eval(s)", "exec(code)"]
    for line in bad:
        assert any(re.search(p, line) for p in FORBIDDEN), line
    for line in ["yaml.safe_load(text)", "model.eval()", "np.load(p, allow_pickle=False)", "self.evaluate(x)"]:
        assert not any(re.search(p, line) for p in FORBIDDEN), line


def test_a_yaml_config_with_a_python_tag_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    config = tmp_path / "evil.yaml"
    config.write_text(f'seed: !!python/object/apply:os.system ["touch {marker}"]\n'
                      "select: {n: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="python/object"):
        load_config(config)
    assert not marker.exists()

    result = CliRunner().invoke(app, ["run", str(config), "--config", str(config), "-o", str(tmp_path / "r")])
    assert result.exit_code == 2 and not marker.exists()
    assert "Traceback" not in result.output


def test_output_paths_are_confined_to_the_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert inside(run_dir, "selected.jsonl") == (run_dir / "selected.jsonl").resolve()
    assert inside(run_dir, "cache/v-1.parquet") == (run_dir / "cache" / "v-1.parquet").resolve()
    (tmp_path / "elsewhere").mkdir()
    (run_dir / "link").symlink_to(tmp_path / "elsewhere")
    for name in ("../escape.jsonl", "/etc/passwd", "cache/../../escape", "link/file", ".", ""):
        with pytest.raises(RunDirError, match="would leave the run directory"):
            inside(run_dir, name)


def test_an_output_that_is_a_symlink_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    victim_dir = tmp_path / "victim_dir"
    victim_dir.mkdir()
    (victim_dir / "file").write_text("keep me too")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "scores.parquet").symlink_to(victim)
    (run_dir / "selected.hf").symlink_to(victim_dir, target_is_directory=True)

    with atomic_open(run_dir / "scores.parquet") as fh:
        fh.write("new")
    with atomic_path(run_dir / "selected.hf", is_dir=True) as tmp:
        (tmp / "data").write_text("new")
    assert victim.read_text() == "keep me" and (victim_dir / "file").read_text() == "keep me too"
    assert not (run_dir / "scores.parquet").is_symlink() and (run_dir / "selected.hf" / "data").exists()

    (run_dir / "selected.hf").rename(tmp_path / "moved")
    (run_dir / "selected.hf").symlink_to(victim_dir, target_is_directory=True)
    (run_dir / ".sft-select-run").write_text("")
    prepare(run_dir, force=True)  # --force unlinks the link; it never deletes what it points to
    release(run_dir)
    assert (victim_dir / "file").read_text() == "keep me too" and not (run_dir / "selected.hf").exists()


def test_a_run_directory_holding_an_input_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = run_dir / "selected.jsonl"  # e.g. re-selecting from a previous run's output, in place
    data.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n')
    before = data.read_bytes()
    cfg = build_config({"select": {"n": 1}, "views": {"use": ["quality_heuristic"]}})
    with pytest.raises(RunDirError, match="lies inside this run directory"):
        run([data], run_dir, cfg, force=True)
    assert data.read_bytes() == before

