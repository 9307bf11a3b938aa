"""A finished run's selection pushed to a Hugging Face Hub dataset repo: `--push-to-hub REPO` on `run` and
`select`, `sft_select.push_to_hub` from Python. The upload itself is io/hub_push.py."""
from __future__ import annotations

from pathlib import Path

from sft_select.io.hub_push import PushError, upload_selection
from sft_select.rundir.reopen import read_manifest


def push_to_hub(run_dir: str | Path, repo: str, *, split: str = "train", private: bool = True) -> str:
    """Upload the selected file of the run in `run_dir`, as written, to the dataset repo `repo` (OWNER/NAME)
    as its `split` split; a repo that does not exist is created private. Returns the repo's URL. Needs a
    token (`hf auth login` or HF_TOKEN) and the Hub online; a failure raises PushError and changes nothing
    local."""
    run_dir = Path(run_dir)
    name = (read_manifest(run_dir).get("outputs") or {}).get("selected")
    if not isinstance(name, str) or not name:
        raise PushError(f"{run_dir}: the run wrote no selection (a `score` run?); select from it first "
                        f"(`sft-select select {run_dir} -n N`)")
    return upload_selection(run_dir / name, repo, split=split, private=private,
                            message=f"sft-select: the selection of {run_dir.name}")
