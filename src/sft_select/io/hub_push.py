"""Upload a selection to a Hugging Face Hub dataset repo (`--push-to-hub REPO`, `sft_select.push_to_hub`).

The selected file is uploaded as written (`huggingface_hub.HfApi.upload_file`), whatever `--output-format`
made it, as `data/<split>.<suffix>`, the name by which the Hub's viewer and `load_dataset` find the split.
`Dataset.push_to_hub` was not used: it re-reads the rows and writes them again as Parquet, with the types
Arrow infers, so what lands on the Hub would not be the file the run wrote. Only a `save_to_disk` folder
(selected.hf) is converted, to Parquet, since the Hub does not read that layout as a dataset.

A repo that does not exist is created private: a selection is someone's data, and a private repo can be
made public in one click where a public one, once pushed, may already have been copied. An existing repo
keeps its visibility.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sft_select.core.errors import SftSelectError

_TRUE = ("1", "true", "yes", "on")


class PushError(SftSelectError):
    """The selection could not be pushed; the run's local outputs are kept."""


def push_ready() -> None:
    """Refuse a push that cannot work, before a run spends its time: huggingface_hub missing, the Hub
    offline (HF_HUB_OFFLINE), or no token (not logged in, no HF_TOKEN)."""
    try:
        import huggingface_hub
    except ImportError:
        raise PushError("--push-to-hub needs the package 'huggingface_hub': pip install huggingface_hub") from None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE or huggingface_hub.constants.HF_HUB_OFFLINE:
        raise PushError("--push-to-hub: HF_HUB_OFFLINE is set, so the Hugging Face Hub cannot be reached; "
                        "unset it (and be online) to push, or leave out --push-to-hub and upload the selected file "
                        "later (`hf upload --repo-type dataset REPO FILE`)")
    if not huggingface_hub.get_token():
        raise PushError("--push-to-hub: no Hugging Face token; log in with `hf auth login` or set HF_TOKEN "
                        "(a token that can write)")


def upload_selection(selected: Path, repo: str, *, split: str = "train", private: bool = True,
                     message: str | None = None) -> str:
    """Upload `selected` (a file, or a `save_to_disk` folder, sent as Parquet) to the dataset repo `repo` as
    its `split` split, creating the repo (private, by default) if needed; returns the repo's URL."""
    push_ready()
    from huggingface_hub import HfApi

    if not selected.exists():
        raise PushError(f"{selected}: no selected file to push")
    api = HfApi()
    later = f"the selection is kept in {selected}"
    try:
        url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sft-select-push-") as tmp:
            source = _as_parquet(selected, Path(tmp)) if selected.is_dir() else selected
            suffix = "".join(source.suffixes[-2:]) if source.suffix == ".gz" else source.suffix
            api.upload_file(path_or_fileobj=str(source), path_in_repo=f"data/{split}{suffix}", repo_id=repo,
                            repo_type="dataset", commit_message=message or f"sft-select: {selected.name}")
    except PushError:
        raise
    except Exception as exc:  # noqa: BLE001 - HTTP, auth, network: each is one message, outputs kept
        reason = " ".join(str(exc).split())[:500] or type(exc).__name__
        raise PushError(f"--push-to-hub {repo}: the upload failed ({type(exc).__name__}: {reason}); {later}") \
            from None
    return str(getattr(url, "url", url) or f"https://huggingface.co/datasets/{repo}")


def _as_parquet(folder: Path, tmp: Path) -> Path:
    import datasets

    # written in the push's own temporary folder, never beside the user's files
    datasets.load_from_disk(str(folder)).to_parquet(str(tmp / "selected.parquet"))
    return tmp / "selected.parquet"
