"""Hugging Face datasets in and out (#25): a DatasetDict folder read by --split, a Hub dataset or a local
dataset repo folder read through `load_dataset`, and --push-to-hub. The network is never used: the Hub
calls are monkeypatched, and the offline paths run under HF_HUB_OFFLINE=1 (set by conftest)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")

from sft_select.core.errors import InputError, SftSelectError  # noqa: E402
from sft_select.io import hub  # noqa: E402
from sft_select.io.load import load  # noqa: E402

FAST = ("--views", "quality_heuristic", "--embedder", "hashing", "-q")


def rows(tag: str, n: int) -> list[dict]:
    return [{"instruction": f"{tag} question {i}: how do I sort a list of numbers in Python?",
             "output": f"{tag} answer {i}: call sorted() on the list; it returns a new, sorted list."}
            for i in range(n)]


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    """load_dataset's Arrow cache in the test's folder, not the user's."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    hub._LOCAL.clear()


@pytest.fixture
def dataset_dict(tmp_path) -> Path:
    folder = tmp_path / "dd"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows("train", 8)),
                          "test": datasets.Dataset.from_list(rows("test", 5))}).save_to_disk(str(folder))
    return folder


def instructions(path: Path) -> list[str]:
    return [json.loads(line)["instruction"] for line in path.read_text().splitlines()]


# --- a DatasetDict save_to_disk folder ----------------------------------------------------------------

def test_dataset_dict_reads_the_split(dataset_dict):
    assert [ex.original["instruction"].split()[0] for ex in load([dataset_dict]).examples] == ["train"] * 8
    test = load([dataset_dict], split="test").examples
    assert len(test) == 5 and {ex.original["instruction"].split()[0] for ex in test} == {"test"}


def test_missing_split_lists_the_splits(dataset_dict, tmp_path, cli):
    with pytest.raises(InputError, match=r"without a split 'validation'; its splits are train, test: pick one "
                                         r"with --split"):
        load([dataset_dict], split="validation")
    code, output = cli("run", dataset_dict, "-n", 2, "--out", tmp_path / "run", "--split", "validation", *FAST)
    assert code == 2 and "its splits are train, test" in output and "Traceback" not in output
    assert not (tmp_path / "run").exists()


def test_streamed_reading_takes_the_split(dataset_dict):
    from sft_select.pipelines.streaming.source import Stream

    stream = Stream([dataset_dict], split="test")
    assert [ex.original["instruction"] for ex in stream.examples()] == [r["instruction"] for r in rows("test", 5)]
    assert [len(c) for c in stream.chunks(2)] == [2, 2, 1]


@pytest.mark.parametrize("streaming", ["off", "on"])
def test_run_and_select_read_the_same_split(dataset_dict, tmp_path, cli, streaming):
    out = tmp_path / "run"
    code, output = cli("run", dataset_dict, "-n", 3, "--out", out, "--split", "test", "--streaming", streaming,
                       *FAST)
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["input"]["split"] == "test"
    assert manifest["inputs"][0]["split"] == "test" and manifest["counts"]["examples"] == 5
    picked = datasets.load_from_disk(str(out / "selected.hf"))["instruction"]
    assert len(picked) == 3 and all(p.startswith("test ") for p in picked)
    # a re-select reopens the inputs; had it read the train split, the ids would not match ("changed")
    code, output = cli("select", out, "-n", 2, "-q")
    assert code == 0, output
    assert len(datasets.load_from_disk(str(out / "selected.hf"))) == 2


def test_reopen_reads_the_runs_split(dataset_dict, tmp_path, cli):
    from sft_select.rundir.reopen import reopen

    out = tmp_path / "run"
    assert cli("run", dataset_dict, "-n", 2, "--out", out, "--split", "test", *FAST)[0] == 0
    opened = reopen(out, need_config=True)
    assert len(opened.load_inputs(opened.config()).examples) == 5


def test_report_reads_the_runs_split(dataset_dict, tmp_path, cli):
    from sft_select.report.rundata import open_run

    out = tmp_path / "run"
    assert cli("run", dataset_dict, "-n", 2, "--out", out, "--split", "test", *FAST)[0] == 0
    data = open_run(out)
    assert data.notes == [] and len(data.examples) == 5


def test_the_streaming_size_counts_only_the_split_read(dataset_dict):
    """--streaming auto decides by the data a run holds: of a DatasetDict, the split it reads, not all."""
    from sft_select.io.readers import data_bytes

    def files(folder: Path) -> int:
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    assert data_bytes(dataset_dict, "test") == files(dataset_dict / "test") < files(dataset_dict)
    assert data_bytes(dataset_dict, "train") == files(dataset_dict / "train")
    assert data_bytes(dataset_dict) == files(dataset_dict)  # no split named: the whole folder, as before


def test_input_fingerprint_changes_with_the_split(dataset_dict):
    from sft_select.rundir.manifest import input_fingerprint

    train, test = input_fingerprint(dataset_dict, "train"), input_fingerprint(dataset_dict, "test")
    assert train["path"] == test["path"] == str(dataset_dict.resolve())
    assert (train["split"], test["split"]) == ("train", "test") and train["xxh3_128"] != test["xxh3_128"]


def test_streaming_cache_key_changes_with_the_split(dataset_dict, tmp_path, cli):
    for split in ("train", "test"):
        assert cli("run", dataset_dict, "-n", 2, "--out", tmp_path / "run", "--split", split, "--streaming", "on",
                   "--force", *FAST)[0] == 0
    assert len(list((tmp_path / "run" / "cache").glob("stream-*"))) == 2


def test_dedup_takes_split(dataset_dict, tmp_path, cli):
    code, output = cli("dedup", dataset_dict, "--out", tmp_path / "deduped", "--split", "test", "-q")
    assert code == 0, output
    manifest = json.loads((tmp_path / "deduped" / "manifest.json").read_text())
    assert manifest["counts"]["examples"] == 5 and manifest["inputs"][0]["split"] == "test"


# --- a local dataset repo folder, read through load_dataset ----------------------------------------------

README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train.jsonl
  - split: test
    path: data/test.jsonl
---
# A dataset card
"""


def write_jsonl(path: Path, items: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in items))


@pytest.fixture
def repo_folder(tmp_path) -> Path:
    folder = tmp_path / "repo"
    write_jsonl(folder / "data" / "train.jsonl", rows("train", 6))
    write_jsonl(folder / "data" / "test.jsonl", rows("test", 4))
    (folder / "README.md").write_text(README)
    (folder / ".cache" / "huggingface").mkdir(parents=True)  # what `hf download --local-dir` leaves
    (folder / ".cache" / "huggingface" / "x.metadata").write_text("not data\n")
    return folder


def test_repo_folder_reads_the_split_and_an_edited_file_fresh(repo_folder):
    assert [ex.original["instruction"] for ex in load([repo_folder], split="test").examples] == \
        [r["instruction"] for r in rows("test", 4)]
    # datasets keys this folder by its README's patterns: without force_redownload the edit went unseen
    write_jsonl(repo_folder / "data" / "test.jsonl", rows("edited", 3))
    assert [ex.original["instruction"] for ex in load([repo_folder], split="test").examples] == \
        [r["instruction"] for r in rows("edited", 3)]
    with pytest.raises(InputError, match=r"repo: no split 'validation'; its splits are train, test"):
        load([repo_folder], split="validation")


def test_repo_folder_run_writes_jsonl(repo_folder, tmp_path, cli):
    out = tmp_path / "run"
    code, output = cli("run", repo_folder, "-n", 2, "--out", out, "--split", "test", *FAST)
    assert code == 0, output
    assert all(i.startswith("test ") for i in instructions(out / "selected.jsonl"))
    entry = json.loads((out / "manifest.json").read_text())["inputs"][0]
    assert entry["path"] == str(repo_folder.resolve()) and entry["split"] == "test"


def test_folder_of_data_without_readme_is_still_refused(tmp_path):
    folder = tmp_path / "loose"
    write_jsonl(folder / "a.jsonl", rows("a", 2))
    with pytest.raises(InputError, match="a folder input must be a Hugging Face dataset saved with save_to_disk"):
        load([folder])


# --- Hub datasets: hf:// and OWNER/NAME ------------------------------------------------------------------

class FakeLoad:
    """`datasets.load_dataset` as the Hub would answer, recording what it was asked."""

    def __init__(self, error: BaseException | None = None):
        self.calls: list[tuple] = []
        self.error = error

    def __call__(self, path, **kwargs):
        self.calls.append((path, kwargs))
        if self.error is not None:
            raise self.error
        return datasets.Dataset.from_list(rows(kwargs["split"], 4))


def test_hf_url_goes_through_load_dataset(monkeypatch, tmp_path, cli):
    fake = FakeLoad()
    monkeypatch.setattr(datasets, "load_dataset", fake)
    out = tmp_path / "run"
    code, output = cli("run", "hf://datasets/owner/name@v1.0/data/*.jsonl", "-n", 2, "--out", out, "--split",
                       "test", *FAST)
    assert code == 0, output
    assert fake.calls[0] == ("owner/name", {"split": "test", "revision": "v1.0", "data_files": "data/*.jsonl"})
    assert all(i.startswith("test ") for i in instructions(out / "selected.jsonl"))  # written as JSONL
    entry = json.loads((out / "manifest.json").read_text())["inputs"][0]
    assert entry["path"] == "hf://datasets/owner/name@v1.0/data/*.jsonl" and entry["split"] == "test"
    assert entry["dataset_fingerprint"]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert rejected and {r["source"] for r in rejected} == {"hf://datasets/owner/name@v1.0/data/*.jsonl"}
    from sft_select.report.rundata import open_run

    data = open_run(out)  # the report reads a Hub input back by its name (not "the input files are gone")
    assert data.notes == [] and len(data.examples) == 4


def test_bare_name_is_a_hub_dataset_but_a_missing_file_is_not(monkeypatch, tmp_path):
    fake = FakeLoad()
    monkeypatch.setattr(datasets, "load_dataset", fake)
    monkeypatch.chdir(tmp_path)
    assert len(load(["owner/name"]).examples) == 4 and fake.calls == [("owner/name", {"split": "train"})]
    for missing in ("data/pool.jsonl", "gone.csv"):
        with pytest.raises(InputError, match="file not found"):
            load([missing])
    assert len(fake.calls) == 1
    assert hub.hub_source("hf:/datasets/owner/name") == hub.HubSource("hf://datasets/owner/name", "owner/name")


def test_offline_is_one_clear_error(tmp_path, cli):
    """The real load_dataset under HF_HUB_OFFLINE=1, for a name no cache holds."""
    out = tmp_path / "run"
    code, output = cli("run", "sft-select-tests/no-such-dataset", "-n", 2, "--out", out, *FAST)
    assert code == 2 and "Traceback" not in output
    text = " ".join(output.split())
    assert "sft-select-tests/no-such-dataset: the Hugging Face Hub cannot be reached (HF_HUB_OFFLINE is set)" in text
    assert "hf download --repo-type dataset sft-select-tests/no-such-dataset --local-dir DIR" in text
    assert not out.exists()


def test_connection_failure_and_unknown_dataset(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", FakeLoad(ConnectionError("Couldn't reach 'o/n' on the Hub")))
    with pytest.raises(InputError, match=r"hf://datasets/o/n: the Hugging Face Hub cannot be reached"):
        load(["hf://datasets/o/n"])
    from datasets.exceptions import DatasetNotFoundError

    monkeypatch.setattr(datasets, "load_dataset", FakeLoad(DatasetNotFoundError("Dataset 'o/n' doesn't exist")))
    with pytest.raises(InputError, match=r"o/n: no such dataset on the Hugging Face Hub, or it is private"):
        load(["o/n"])


# --- --push-to-hub ---------------------------------------------------------------------------------------

class FakeApi:
    """huggingface_hub.HfApi with its network calls recorded instead of made."""

    calls: list[tuple] = []
    fail: BaseException | None = None

    def create_repo(self, repo_id, **kwargs):
        FakeApi.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_file(self, **kwargs):
        if FakeApi.fail is not None:
            raise FakeApi.fail
        source = Path(kwargs["path_or_fileobj"])
        FakeApi.calls.append(("upload_file", kwargs["repo_id"], kwargs["path_in_repo"], source.name,
                              kwargs["repo_type"], source.read_bytes()))


@pytest.fixture
def online(monkeypatch):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    FakeApi.calls, FakeApi.fail = [], None
    return FakeApi


@pytest.fixture
def pool(tmp_path) -> Path:
    path = tmp_path / "pool.jsonl"
    write_jsonl(path, rows("pool", 8))
    return path


def test_run_and_select_push_the_selected_file(online, pool, tmp_path, cli):
    out = tmp_path / "run"
    code, output = cli("run", pool, "-n", 3, "--out", out, "--views", "quality_heuristic", "--embedder", "hashing",
                       "--push-to-hub", "me/picked")
    assert code == 0, output
    assert "Pushed the selection to https://huggingface.co/datasets/me/picked" in " ".join(output.split())
    create, upload = online.calls
    assert create == ("create_repo", "me/picked", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert upload[:5] == ("upload_file", "me/picked", "data/train.jsonl", "selected.jsonl", "dataset")
    assert upload[5] == (out / "selected.jsonl").read_bytes()
    online.calls = []
    code, output = cli("select", out, "-n", 2, "--push-to-hub", "me/picked", "-q")
    assert code == 0, output
    assert online.calls[1][5] == (out / "selected.jsonl").read_bytes()
    assert len(instructions(out / "selected.jsonl")) == 2


def test_a_saved_dataset_selection_is_pushed_as_parquet(online, dataset_dict, tmp_path):
    import io

    import pyarrow.parquet as pq

    import sft_select

    out = tmp_path / "run"
    sft_select.run([dataset_dict], out, sft_select.load_config(None, {"select": {"n": 3}, "views": {
        "use": ["quality_heuristic"]}, "embedding": {"model": "hashing"}}))
    assert sft_select.push_to_hub(out, "me/picked", split="validation") == "https://huggingface.co/datasets/me/picked"
    upload = online.calls[1]
    assert upload[2] == "data/validation.parquet"
    assert pq.read_table(io.BytesIO(upload[5])).num_rows == 3


def test_push_refused_before_the_run_when_offline_or_without_token(pool, tmp_path, cli, monkeypatch):
    out = tmp_path / "run"
    code, output = cli("run", pool, "-n", 3, "--out", out, *FAST, "--push-to-hub", "me/picked")
    assert code == 2 and "HF_HUB_OFFLINE is set" in output and not out.exists()
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    code, output = cli("run", pool, "-n", 3, "--out", out, *FAST, "--push-to-hub", "me/picked")
    assert code == 2 and "no Hugging Face token" in output and not out.exists()


def test_failed_push_exits_2_and_keeps_the_outputs(online, pool, tmp_path, cli):
    online.fail = ConnectionError("connection reset")
    out = tmp_path / "run"
    code, output = cli("run", pool, "-n", 3, "--out", out, *FAST, "--push-to-hub", "me/picked")
    text = " ".join(output.split())
    assert code == 2 and "the upload failed (ConnectionError: connection reset)" in text
    assert f"the selection is kept in {out / 'selected.jsonl'}" in text and "Traceback" not in output
    assert (out / "manifest.json").exists() and len(instructions(out / "selected.jsonl")) == 3


def test_a_scored_run_has_nothing_to_push(online, pool, tmp_path, cli):
    import sft_select

    out = tmp_path / "run"
    assert cli("score", pool, "--out", out, "--views", "quality_heuristic", "--embedder", "hashing", "-q")[0] == 0
    with pytest.raises(SftSelectError, match="the run wrote no selection"):
        sft_select.push_to_hub(out, "me/picked")
    assert online.calls == []
