"""`--push-to-hub REPO` on `run` and `select`: checked before the command works, pushed after it finished.
Kept out of the config, so a copied config never pushes."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from sft_select.core import progress

PUSH_TO_HUB = typer.Option(None, "--push-to-hub", metavar="REPO",
                           help="Upload the selected file to this Hugging Face dataset repo (OWNER/NAME) as its "
                                "train split; a new repo is created private. Needs `hf auth login` or HF_TOKEN.")


def check_push(repo: str | None) -> None:
    """Before the command: a push that cannot work (offline, no token) is refused before the run."""
    if repo:
        from sft_select.io.hub_push import push_ready

        push_ready()


def push_selection(run_dir: Path, repo: str | None) -> None:
    """After the command finished: push, and say where it went (a failure exits 2, the outputs stay)."""
    if repo:
        from sft_select.pipelines.push import push_to_hub

        url = push_to_hub(run_dir, repo)
        progress.info(f"Pushed the selection to {escape(url)}")
