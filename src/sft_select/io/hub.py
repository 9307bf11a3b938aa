"""Inputs read through `datasets.load_dataset`: a Hub dataset, or a local dataset repo folder.

A Hub dataset is named `hf://datasets/OWNER/NAME[@REVISION][/PATH]` (PATH: a file or glob inside the repo),
or by a bare `OWNER/NAME` that is not a local path. A local dataset repo folder is a folder laid out as on
the Hub: data files and a README.md (whose YAML `configs:` may name the splits), as `hf download` writes
it; a `save_to_disk` folder is not one (readers.py reads those with `load_from_disk`).

This module knows nothing of rows: readers.py iterates the `Dataset` it returns.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sft_select.core.errors import InputError

# `hf://` as typed; `hf:/` as a path argument arrives (pathlib collapses the double slash)
_HF_URL = re.compile(r"^hf:/{1,2}datasets/(?P<repo>[^/@]+/[^/@]+)(?:@(?P<rev>[^/]+))?(?:/(?P<path>.+))?$")
# OWNER/NAME as the Hub spells them: letters, digits, '-', '_', '.'; at most 96 characters each
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
# a name ending like a data file is a missing local file, not a dataset ("data/pool.jsonl": file not found)
_FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".arrow", ".txt", ".gz", ".zip")
_SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")  # save_to_disk's own files


@dataclass(frozen=True, slots=True)
class HubSource:
    """What to give `load_dataset`, and how to name it to the user."""

    name: str  # in messages and the manifest: hf://datasets/OWNER/NAME[@REV][/PATH], or the folder's path
    target: str  # load_dataset's first argument: the repo id, or the folder
    revision: str | None = None
    data_files: str | None = None
    local: bool = False  # a local repo folder: no network involved


def hub_source(path: str | Path) -> HubSource | None:
    """The input as a dataset `load_dataset` reads, or None for a local file or `save_to_disk` folder."""
    text = str(path)
    match = _HF_URL.match(text)
    if match:
        repo, rev, inner = match["repo"], match["rev"], match["path"]
        name = f"hf://datasets/{repo}" + (f"@{rev}" if rev else "") + (f"/{inner}" if inner else "")
        return HubSource(name, repo, unquote(rev) if rev else None, inner)
    if os.path.lexists(text):
        return HubSource(text, text, local=True) if is_repo_folder(Path(text)) else None
    if _REPO_ID.match(text) and not text.lower().endswith(_FILE_SUFFIXES):
        return HubSource(text, text)
    return None


def is_repo_folder(path: Path) -> bool:
    """A folder laid out as a Hub dataset repo (a README.md beside its data), not a `save_to_disk` one."""
    return path.is_dir() and (path / "README.md").is_file() and \
        not any((path / marker).exists() for marker in _SAVED_MARKERS)


def load_split(source: HubSource, split: str) -> Any:
    """`split` of the dataset, as a `datasets.Dataset`, or one InputError saying what went wrong and what to
    do: no such split (the splits listed), the Hub out of reach, no such dataset, no data files."""
    try:
        import datasets
    except ImportError:
        from sft_select.core.errors import MissingDependency
        raise MissingDependency("datasets", "reading a Hugging Face dataset") from None
    kwargs: dict[str, Any] = {"split": split}
    if source.revision:
        kwargs["revision"] = source.revision
    if source.data_files:
        kwargs["data_files"] = source.data_files
    key = stamp = None
    if source.local:
        key, stamp = (str(Path(source.target).resolve()), split), _stamp(Path(source.target))
        held = _LOCAL.get(key)
        if held is not None and held[0] == stamp:  # a run reads its input more than once
            return held[1]
        # datasets keys a folder whose README names its data files by those names, not by the files'
        # times: an edited file would be read back from its cache as it was (datasets issue #2956); and
        # the split sizes it recorded then (or a README's `dataset_info`) no longer hold
        kwargs.update(download_mode="force_redownload", verification_mode="no_checks")
    try:
        ds = datasets.load_dataset(source.target, **kwargs)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types; each becomes one InputError
        raise _load_error(source, split, exc) from None
    if key is not None:
        _LOCAL[key] = (stamp, ds)
    return ds


_LOCAL: dict[tuple[str, str], tuple[list, Any]] = {}  # (folder, split) -> (its files' stamp, the dataset)


def _data_files(folder: Path) -> list[Path]:
    """The folder's files, hidden ones (`.cache/` that `hf download` writes, `.git/`) left out."""
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _stamp(folder: Path) -> list:
    return [(str(p), st.st_size, st.st_mtime_ns) for p in _data_files(folder) for st in (p.stat(),)]


def hub_fingerprint(source: HubSource, split: str) -> dict[str, Any]:
    """The manifest's entry for the input, with the keys a file's has (path, bytes, xxh3_128) and its split.
    A local folder: its data files' bytes hashed (not datasets' fingerprint, which misses an edited file;
    see `load_split`). A Hub dataset: the dataset's own fingerprint (datasets derives it from the resolved
    revision and the data files), and `xxh3_128` that fingerprint's."""
    import xxhash

    if source.local:
        folder = Path(source.target)
        h, size = xxhash.xxh3_128(), 0
        for path in _data_files(folder):
            h.update(f"{path.relative_to(folder)}\0".encode())
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
        return {"path": str(folder.resolve()), "split": split, "bytes": size, "xxh3_128": h.hexdigest()}
    ds = load_split(source, split)
    fingerprint = str(getattr(ds, "_fingerprint", ""))
    return {"path": source.name, "split": split, "revision": source.revision, "dataset_fingerprint": fingerprint,
            "bytes": int(ds.data.nbytes), "xxh3_128": xxhash.xxh3_128_hexdigest(f"{fingerprint}\0{split}".encode())}


def _load_error(source: HubSource, split: str, exc: BaseException) -> InputError:
    from datasets.exceptions import DatasetNotFoundError

    text = " ".join(str(exc).split())
    unknown = re.match(r"Unknown split \"(.*?)\"\. Should be one of \[(.*)\]", text)
    if unknown:
        splits = ", ".join(s.strip(" '\"") for s in unknown[2].split(","))
        return InputError(source.name, f"no split '{split}'; its splits are {splits}: pick one with --split "
                                       "(input.split in the config)")
    if isinstance(exc, ConnectionError) and not source.local:
        return InputError(source.name, offline_message(source))
    if isinstance(exc, DatasetNotFoundError):
        return InputError(source.name, "no such dataset on the Hugging Face Hub, or it is private or gated: "
                                       "check the name, and log in (`hf auth login`, or HF_TOKEN) if it is yours")
    if isinstance(exc, FileNotFoundError) and source.local:
        return InputError(source.name, "no data file that datasets.load_dataset can read in this folder")
    return InputError(source.name, f"datasets.load_dataset could not read it: {type(exc).__name__}: {text[:500]}")


def offline_message(source: HubSource) -> str:
    why = "HF_HUB_OFFLINE is set" if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") \
        else "no connection"
    return (f"the Hugging Face Hub cannot be reached ({why}) and the dataset is not in the local datasets "
            f"cache; download it where there is a connection (`hf download --repo-type dataset {source.target} "
            "--local-dir DIR`, formerly `huggingface-cli download`; or `datasets.load_dataset(...).save_to_disk"
            "(DIR)`) and pass DIR instead")
