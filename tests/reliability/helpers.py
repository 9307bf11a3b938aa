"""Shared helpers for the reliability tests and the bench scripts that reuse them."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def load_script(relpath: str) -> ModuleType:
    """Import a script that is not in a package (examples/…, bench/…) by its path."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def make_demo(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """The demo pool and target (examples/make_demo_data.py) written to `folder`."""
    demo = load_script("examples/make_demo_data.py")
    pool, target = demo.make_pool(n, seed)
    demo.write_jsonl(pool, folder / "pool.jsonl")
    demo.write_jsonl(target, folder / "target.jsonl")
    return folder / "pool.jsonl", folder / "target.jsonl"


def cli_env(hash_seed: int | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(SRC), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("SFT_SELECT_FUZZ_SCALE", None)
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = str(hash_seed)  # set-iteration order differs between runs
    return env


def cli_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "sft_select", *map(str, args)]


def run_cli(*args: str | Path, hash_seed: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), env=cli_env(hash_seed), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
