"""--quiet silences the bars of the libraries we load models with, not only our own output."""
import os
import subprocess
import sys


def test_quiet_turns_off_transformers_progress_bars() -> None:
    code = ("from sft_select.core import progress; progress.configure(quiet=True); "
            "import transformers.utils.logging as l; print(l.is_progress_bar_enabled())")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
    code = code.replace("quiet=True", "quiet=False")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "True"


def test_quiet_after_transformers_is_imported_also_turns_them_off(monkeypatch) -> None:
    import transformers.utils.logging as hf_logging

    from sft_select.core import progress

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    hf_logging.enable_progress_bar()
    try:
        progress.configure(quiet=True)
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        progress.configure()
        hf_logging.enable_progress_bar()
