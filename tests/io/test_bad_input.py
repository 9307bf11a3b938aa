"""Every bad-input case of the foundation issue: one clear message naming file, line and field, exit 2,
nothing written, input untouched; and `--on-error skip` sends the bad rows to rejected.jsonl."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

GOOD = [{"instruction": f"How do I sort list number {i} in Python?", "input": "",
         "output": f"Call sorted() on list {i}; it returns a new sorted list and leaves the original alone."}
        for i in range(6)]


def jsonl_lines(rows: list) -> list[bytes]:
    return [json.dumps(r).encode() for r in rows]


CASES = {
    # name: (lines of the file (bytes), expected fragments of the message)
    "malformed_json": (jsonl_lines(GOOD[:2]) + [b'{"instruction": "x", "output": '] + jsonl_lines(GOOD[2:]),
                       ["pool.jsonl", "line 3", "malformed JSON"]),
    "missing_field": (jsonl_lines(GOOD[:3]) + jsonl_lines([{"instruction": "Say hi."}]) + jsonl_lines(GOOD[3:]),
                      ["pool.jsonl", "line 4", "field 'output'", "missing"]),
    "non_string": (jsonl_lines(GOOD[:1]) + jsonl_lines([{"instruction": "Add.", "output": 42}]),
                   ["line 2", "field 'output'", "expected a string, got int"]),
    "empty_text": (jsonl_lines([{"text": "fine text", "label": "a"}, {"text": "   ", "label": "b"}]),
                   ["line 2", "field 'text'", "empty text"]),
    "invalid_utf8": (jsonl_lines(GOOD[:2]) + [b'{"instruction": "caf\xe9", "output": "ok"}'],
                     ["line 3", "invalid UTF-8"]),
    "unknown_format": (jsonl_lines([{"question": "q?", "answer": "a."}]),
                       ["line 1", "cannot detect the format", "--format"]),
    "empty_file": ([], ["pool.jsonl", "no rows"]),
    "not_an_object": (jsonl_lines(GOOD[:1]) + [b'[1, 2, 3]'], ["line 2", "expected a JSON object"]),
}


def write_lines(path: Path, lines: list[bytes]) -> bytes:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_cleanly(tmp_path, cli, case):
    lines, fragments = CASES[case]
    src = tmp_path / "pool.jsonl"
    before = write_lines(src, lines)
    out = tmp_path / "run"
    code, output = cli("run", src, "-n", "2", "--out", out, "--embedder", "hashing")
    assert code == 2, output
    for frag in fragments:
        assert frag in output, (frag, output)
    assert "Traceback" not in output
    assert not out.exists(), "nothing is written on a failed run"
    assert src.read_bytes() == before, "the input is never modified"


SKIPPABLE = ["malformed_json", "missing_field", "non_string", "invalid_utf8", "not_an_object"]


@pytest.mark.parametrize("case", SKIPPABLE)
def test_on_error_skip_rejects_the_row(tmp_path, cli, case):
    lines, _ = CASES[case]
    src = tmp_path / "pool.jsonl"
    write_lines(src, lines)
    out = tmp_path / "run"
    code, output = cli("run", src, "-n", "100", "--out", out, "--embedder", "hashing", "--on-error", "skip")
    assert code == 0, output
    assert "1 unreadable rows skipped" in output
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]
    bad = [r for r in rejected if r["reason"].startswith(("unreadable", "invalid"))]
    assert len(bad) == 1 and "line" in bad[0] and bad[0]["row"] is not None
    selected = (out / "selected.jsonl").read_text().splitlines()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["unreadable"] == 1
    assert len(selected) + len(rejected) == len(lines), "no row is lost"


def test_config_errors_name_the_key(tmp_path, cli):
    src = tmp_path / "pool.jsonl"
    write_lines(src, jsonl_lines(GOOD))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("select:\n  n: 3\n  nn: 4\n")
    code, output = cli("run", src, "--config", cfg, "--out", tmp_path / "r")
    assert code == 2 and "cfg.yaml: select.nn: unknown key" in output
    cfg.write_text("views:\n  settings:\n    quality_heuristic:\n      params: {ideal_wordz: 3}\n")
    code, output = cli("run", src, "--config", cfg, "-n", "2", "--out", tmp_path / "r", "--embedder", "hashing")
    assert code == 2 and "ideal_wordz" in output
    cfg.write_text("views:\n  settings:\n    diversity:\n      params: {k: five}\n")
    code, output = cli("run", src, "--config", cfg, "-n", "2", "--out", tmp_path / "r", "--embedder", "hashing")
    assert code == 2 and "views.settings.diversity.params.k: 'five' is not a valid" in output
    assert "Traceback" not in output
    cfg.write_text("select: [1, 2\n")
    code, output = cli("run", src, "--config", cfg, "--out", tmp_path / "r")
    assert code == 2 and "not valid YAML" in output
    code, output = cli("run", src, "--out", tmp_path / "r", "-n", "2", "--views", "nonsense")
    assert code == 2 and "unknown view 'nonsense'" in output
    code, output = cli("run", src, "--out", tmp_path / "r", "--weights", "quality_heuristic=abc", "-n", "2")
    assert code == 2 and "--weights" in output
    assert not (tmp_path / "r").exists()


def test_missing_size_and_file(tmp_path, cli):
    src = tmp_path / "pool.jsonl"
    write_lines(src, jsonl_lines(GOOD))
    code, output = cli("run", src, "--out", tmp_path / "r")
    assert code == 2 and "-n N" in output
    code, output = cli("run", tmp_path / "nope.jsonl", "-n", "2", "--out", tmp_path / "r")
    assert code == 2 and "nope.jsonl: file not found" in output
    code, output = cli("run", tmp_path / "pool.txt", "-n", "2", "--out", tmp_path / "r")
    assert code == 2


def test_bad_row_in_json_list_and_csv(tmp_path, cli):
    src = tmp_path / "pool.json"
    src.write_text(json.dumps(GOOD[:2] + [{"instruction": None, "output": "x"}]))
    code, output = cli("run", src, "-n", "2", "--out", tmp_path / "r", "--embedder", "hashing")
    assert code == 2 and "pool.json, element 3: field 'instruction'" in output
    csv_src = tmp_path / "pool.csv"
    csv_src.write_text("prompt,completion\nhello there,general kenobi\n,\n")
    code, output = cli("run", csv_src, "-n", "1", "--out", tmp_path / "r2", "--embedder", "hashing")
    assert code == 2 and "pool.csv, line 3" in output and "every text field is empty" in output


# Issue #23, reader messages: where a file has no lines, the place is an element or a row, not a "line".

def run_fails(cli, tmp_path, src, *fragments, extra=(), out_name="run"):
    out = tmp_path / out_name
    code, output = cli("run", src, "-n", "2", "--out", out, "--embedder", "hashing", *extra)
    assert code == 2, output
    for frag in fragments:
        assert frag in output, (frag, output)
    assert "Traceback" not in output
    # a streaming run reads its input after making the run dir (pipeline.py): only its marker is left
    assert not out.exists() or [p.name for p in out.iterdir()] == [".sft-select-run"], "nothing is written"
    return output


def test_json_list_and_parquet_name_the_element_or_row(tmp_path, cli):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "pool.json"
    src.write_text(json.dumps(GOOD[:2] + [[1, 2]] + GOOD[2:]))
    output = run_fails(cli, tmp_path, src, "pool.json, element 3:", "expected a JSON object")
    assert "line 3" not in output
    pq_src = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_pylist(GOOD[:4] + [{"instruction": "Hi?", "input": "", "output": None}]), pq_src)
    output = run_fails(cli, tmp_path, pq_src, "pool.parquet, row 5: field 'output'", "missing")
    assert "line 5" not in output


def test_truncated_gzip_names_the_last_good_line(tmp_path, cli):
    import gzip

    src = tmp_path / "pool.jsonl.gz"
    rows = [dict(GOOD[i % len(GOOD)], output=GOOD[i % len(GOOD)]["output"] + f" ({i})") for i in range(400)]
    whole = gzip.compress(b"".join(line + b"\n" for line in jsonl_lines(rows)), mtime=0)
    src.write_bytes(whole[: len(whole) // 2])
    for streaming in ("off", "on"):
        output = run_fails(cli, tmp_path, src, "pool.jsonl.gz", "truncated or corrupt", "after line ",
                           extra=("--streaming", streaming), out_name=f"run-{streaming}")
        last_good = int(output.split("after line ")[1].split()[0].strip(",;:()"))
        assert 0 < last_good < 400, output


def test_datasetdict_folder_is_named_as_such(tmp_path, cli):
    """A DatasetDict folder is read by --split (default train); one without that split is named, with its
    splits (tests/io/test_hf_datasets.py has the rest)."""
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "dd"
    datasets.DatasetDict({"validation": datasets.Dataset.from_list(GOOD[:4]),
                          "test": datasets.Dataset.from_list(GOOD[4:])}).save_to_disk(str(folder))
    run_fails(cli, tmp_path, folder, "a DatasetDict without a split 'train'; its splits are validation, test",
              "--split")


def test_symlink_loop_is_not_file_not_found(tmp_path, cli):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.symlink_to(b)
    b.symlink_to(a)
    output = run_fails(cli, tmp_path, a, "a.jsonl", "symlink loop")
    assert "not found" not in output


def test_fifo_is_refused_without_reading_it(tmp_path):
    """Before: with no writer the run blocked forever opening it; with one, the gzip sniff ate its first
    bytes ("line 1: malformed JSON"). Run in a subprocess with a timeout, so a regression fails, not hangs."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "pool.jsonl"
    os.mkfifo(fifo)
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    done = subprocess.run([sys.executable, "-m", "sft_select", "run", str(fifo), "-n", "2", "--out", str(out),
                           "--embedder", "hashing"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr
    assert "pool.jsonl: not a regular file (FIFO/device); save it to a file first" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def run_skipping(cli, tmp_path, src):
    """A run with --on-error skip: (its folder, rejected.jsonl's rows, those rejected as unreadable)."""
    out = tmp_path / "run"
    code, output = cli("run", src, "-n", "100", "--out", out, "--embedder", "hashing", "--on-error", "skip")
    assert code == 0, output
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]
    return out, rejected, [r for r in rejected if r["reason"].startswith("unreadable")]


def test_csv_with_invalid_utf8_skips_the_row(tmp_path, cli):
    src = tmp_path / "pool.csv"
    header = b"instruction,input,output\n"
    good = [f'"{r["instruction"]}",,"{r["output"]}"\n'.encode() for r in GOOD]
    src.write_bytes(header + good[0] + good[1] + b'"Caf\xe9 au lait?",,"A coffee with milk, served hot."\n'
                    + b"".join(good[2:]))
    run_fails(cli, tmp_path, src, "pool.csv, line 4", "invalid UTF-8")
    out, rejected, bad = run_skipping(cli, tmp_path, src)
    assert len(bad) == 1 and bad[0]["line"] == 4 and "invalid UTF-8" in bad[0]["reason"]
    assert "Caf\ufffd au lait?" in bad[0]["row"] and "served hot" in bad[0]["row"]
    selected = (out / "selected.csv").read_text().splitlines()
    assert len(selected) - 1 + len(rejected) == len(GOOD) + 1, "no row is lost"


def test_json_list_with_invalid_utf8_skips_the_element(tmp_path, cli):
    src = tmp_path / "pool.json"
    items = [json.dumps(r).encode() for r in GOOD]
    items[2] = items[2].replace(b"sort", b"s\xf6rt", 1)
    src.write_bytes(b"[\n" + b",\n".join(items) + b"\n]")
    run_fails(cli, tmp_path, src, "pool.json, element 3", "invalid UTF-8", "line 4")
    out, rejected, bad = run_skipping(cli, tmp_path, src)
    assert len(bad) == 1 and bad[0]["row_index"] == 2 and "invalid UTF-8" in bad[0]["reason"]
    assert len(json.loads((out / "selected.json").read_text())) + len(rejected) == len(GOOD)


def test_csv_row_with_an_extra_cell_is_kept_whole(tmp_path, cli):
    src = tmp_path / "pool.csv"
    rows = [f'"{r["instruction"]}",,"{r["output"]}"' for r in GOOD]
    rows[1] += ",one too many"
    src.write_text("instruction,input,output\n" + "\n".join(rows) + "\n")
    out, rejected, bad = run_skipping(cli, tmp_path, src)
    assert len(bad) == 1 and bad[0]["line"] == 3
    assert GOOD[1]["instruction"] in bad[0]["row"] and GOOD[1]["output"] in bad[0]["row"]
    assert "one too many" in bad[0]["row"]
