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
    assert code == 2 and "pool.json, line 3: field 'instruction'" in output
    csv_src = tmp_path / "pool.csv"
    csv_src.write_text("prompt,completion\nhello there,general kenobi\n,\n")
    code, output = cli("run", csv_src, "-n", "1", "--out", tmp_path / "r2", "--embedder", "hashing")
    assert code == 2 and "pool.csv, line 3" in output and "every text field is empty" in output
