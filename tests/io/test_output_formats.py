"""--output-format: each schema from each input format (the system prompt and every turn kept), one schema for
mixed inputs, labelled text refused for schemas of turns; `same` writes a JSONL input's own lines; both
engines write the same files; the flag on `run` and `select`."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from sft_select.config.schema import OUTPUT_FORMATS, build_config
from sft_select.core.errors import ConfigError, InputError
from sft_select.core.record import Example
from sft_select.io.export import ROWS, Export, mixed_formats_note
from sft_select.io.formats import detect_format, parse_row
from sft_select.io.row_bytes import original_lines
from sft_select.pipelines.in_memory import run

WORDS = ("alpha beta gamma delta epsilon zeta theta iota kappa lambda sigma omega river stone cloud market "
         "garden engine signal vector matrix planet ocean forest harbor lantern meadow copper").split()
OTHER = ("apple bread cheese dough eggs flour grape honey ink jam kale lemon mango nut olive pear quince rice "
         "salt thyme").split()


def words(rng: random.Random, k: int, vocab=WORDS) -> str:
    return " ".join(rng.choices(vocab, k=k))


def conversations(n: int, seed: int = 0) -> list[tuple[str, list[tuple[str, str]]]]:
    """(system prompt or "", [(user, assistant), ...]) with 1-3 rounds."""
    rng = random.Random(seed)
    return [(f"You are helper {i}." if i % 2 == 0 else "",
             [(words(rng, rng.randint(6, 12)) + "?", words(rng, rng.randint(20, 40)) + ".")
              for _ in range(rng.randint(1, 3))]) for i in range(n)]


def as_rows(fmt: str, convs) -> list[dict]:
    rows = []
    for i, (system, rounds) in enumerate(convs):
        if fmt == "openai":
            msgs = [{"role": "system", "content": system}] if system else []
            for u, a in rounds:
                msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
            rows.append({"messages": msgs})
        elif fmt == "sharegpt":
            conv = [t for u, a in rounds for t in ({"from": "human", "value": u}, {"from": "gpt", "value": a})]
            rows.append({"conversations": conv, "system": system})
        elif fmt == "alpaca":
            u, a = rounds[-1]
            rows.append({"instruction": u, "input": "with context " + str(i) if i % 3 == 0 else "", "output": a,
                         "system": system})
        elif fmt == "prompt_completion":
            u, a = rounds[-1]
            rows.append({"prompt": u, "completion": a})
        elif fmt == "text_label":
            rng = random.Random(i)
            rows.append({"text": words(rng, 25, WORDS if i % 2 else OTHER), "label": i % 2})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def record(row: dict, fields: dict | None = None) -> Example:
    fmt = detect_format(row, fields)
    parsed = parse_row(row, fmt, fields)
    return Example(id="x", source="s.jsonl", row=0, format=fmt, original=row, turns=parsed.turns,
                   text=parsed.text, label=parsed.label)


def cfg(output_format: str = "same", streaming: str = "off", **engine):
    return build_config({"embedding": {"model": "hashing"}, "report": {"enabled": False},
                         "engine": {"streaming": streaming, "chunk_size": 23, **engine}, "select": {"n": 12},
                         "output": {"format": output_format}})


OPENAI = {"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi?"},
                       {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Sum 2+2?"},
                       {"role": "assistant", "content": "4."}]}


def test_every_output_format_has_a_converter():
    assert {"same", *ROWS} == set(OUTPUT_FORMATS)


def test_a_system_prompt_and_two_rounds_in_each_schema():
    ex = record(OPENAI)
    row = {fmt: Export.of(fmt, {"s.jsonl": "openai"}).row(ex) for fmt in ROWS}
    assert row["messages"] == OPENAI
    assert row["alpaca"] == {"instruction": "Sum 2+2?", "input": "", "output": "4.", "system": "Be terse.",
                             "history": [["Hi?", "Hello."]]}
    assert row["sharegpt"] == {"conversations": [
        {"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."},
        {"from": "human", "value": "Sum 2+2?"}, {"from": "gpt", "value": "4."}], "system": "Be terse."}
    assert row["prompt_completion"] == {"prompt": OPENAI["messages"][:4],
                                        "completion": [{"role": "assistant", "content": "4."}]}
    assert row["text"] == {"text": "### System:\nBe terse.\n\n### User:\nHi?\n\n### Assistant:\nHello.\n\n"
                                   "### User:\nSum 2+2?\n\n### Assistant:\n4."}


def test_alpaca_input_keeps_its_own_instruction_input_and_system_through_a_field_mapping():
    row = {"q": "Translate", "ctx": "bonjour", "a": "hello", "sys": "Be exact."}
    fields = {"instruction": "q", "input": "ctx", "output": "a", "system": "sys"}
    ex = record(row, fields)
    out = Export.of("alpaca", {"s.jsonl": "alpaca"}, fields).row(ex)
    assert out == {"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "Be exact.",
                   "history": []}
    assert Export.of("messages", {"s.jsonl": "alpaca"}, fields).row(ex)["messages"][0] == \
        {"role": "system", "content": "Be exact."}


def test_a_sharegpt_system_column_is_kept_in_every_schema():
    ex = record(as_rows("sharegpt", [("Sys prompt.", [("u1?", "a1."), ("u2?", "a2.")])])[0])
    assert Export.of("messages", {"s": "sharegpt"}).row(ex)["messages"][0] == {"role": "system",
                                                                             "content": "Sys prompt."}
    assert Export.of("sharegpt", {"s": "sharegpt"}).row(ex)["system"] == "Sys prompt."
    assert Export.of("alpaca", {"s": "sharegpt"}).row(ex)["system"] == "Sys prompt."
    assert Export.of("prompt_completion", {"s": "sharegpt"}).row(ex)["prompt"][0]["role"] == "system"
    assert Export.of("text", {"s": "sharegpt"}).row(ex)["text"].startswith("### System:\nSys prompt.")


def test_prompt_completion_text_stays_text_and_mixed_inputs_become_messages():
    ex = record({"prompt": "The sky is", "completion": " blue."})
    assert Export.of("prompt_completion", {"a": "prompt_completion"}).row(ex) == \
        {"prompt": "The sky is", "completion": " blue."}
    mixed = Export.of("prompt_completion", {"a": "prompt_completion", "b": "alpaca"}).row(ex)
    assert mixed == {"prompt": [{"role": "user", "content": "The sky is"}],
                     "completion": [{"role": "assistant", "content": " blue."}]}


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "alpaca", "prompt_completion"])
def test_every_turn_is_kept(fmt):
    for row in as_rows(fmt, conversations(20, seed=4)):
        ex = record(row)
        texts = [t.content for t in ex.turns if t.content]
        for out_fmt in ("messages", "sharegpt", "text", "alpaca", "prompt_completion"):
            dumped = json.dumps(Export.of(out_fmt, {"s": fmt}).row(ex))
            for text in texts:  # (alpaca input: its instruction and input are two fields of the output)
                for part in text.split("\n\n"):
                    assert json.dumps(part)[1:-1] in dumped, (out_fmt, part)


@pytest.mark.parametrize("out_fmt", ["messages", "alpaca", "sharegpt", "prompt_completion"])
def test_labelled_text_asked_for_turns_is_one_config_error_naming_the_flag(out_fmt):
    with pytest.raises(ConfigError, match=f"--output-format {out_fmt}.*labelled text.*--output-format text"):
        Export.of(out_fmt, {"pool.jsonl": "text_label"})


def test_labelled_text_as_text_keeps_its_label_as_read():
    ex = record({"body": "some words here", "y": 1}, {"text": "body", "label": "y"})
    assert Export.of("text", {"s": "text_label"}, {"text": "body", "label": "y"}).row(ex) == \
        {"text": "some words here", "label": 1}


def test_mixed_formats_under_same_are_said():
    assert mixed_formats_note({"a.jsonl": "alpaca"}) is None
    note = mixed_formats_note({"a.jsonl": "alpaca", "b.jsonl": "sharegpt"})
    assert "alpaca, sharegpt" in note and "--output-format messages" in note


# --- whole runs --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat_pool(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("pool") / "chat.jsonl", as_rows("openai", conversations(60)))


ENGINES = {  # two pairs that must write the same files: the views fit on the same rows within each pair
    "in memory": ("off", {}), "streamed, read whole": ("on", {}),
    "streamed by offsets": ("on", {"fit_sample": 20}),
    "streamed by offsets, two workers": ("on", {"fit_sample": 20, "workers": 2, "parallel_min": 10}),
}


@pytest.fixture(scope="module")
def same_runs(chat_pool, tmp_path_factory):
    """Each engine's run with `same`: the rejected.jsonl and scores.parquet every other format must write."""
    folder = tmp_path_factory.mktemp("same")
    for name, (streaming, engine) in ENGINES.items():
        run([chat_pool], folder / name, cfg("same", streaming, **engine))
    return folder


@pytest.mark.parametrize("output_format", OUTPUT_FORMATS)
def test_both_engines_write_the_same_files_and_rejected_and_scores_do_not_change(tmp_path, chat_pool, same_runs,
                                                                                output_format):
    selected = {}
    for name, (streaming, engine) in ENGINES.items():
        out = tmp_path / name
        run([chat_pool], out, cfg(output_format, streaming, **engine))
        selected[name] = (out / "selected.jsonl").read_bytes()
        assert (out / "rejected.jsonl").read_bytes() == (same_runs / name / "rejected.jsonl").read_bytes()
        pd.testing.assert_frame_equal(pd.read_parquet(out / "scores.parquet"),
                                      pd.read_parquet(same_runs / name / "scores.parquet"))
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["outputs"].get("selected_format") == (None if output_format == "same" else output_format)
        assert (out / "dataset_info.json").exists() == (output_format in ("alpaca", "sharegpt", "messages"))
    names = list(ENGINES)
    assert selected[names[0]] == selected[names[1]] and selected[names[2]] == selected[names[3]]
    rows = [json.loads(line) for line in selected[names[0]].splitlines()]
    assert len(rows) == 12
    if output_format != "same":
        keys = list(ROWS[output_format](Export.of(output_format, {"s": "openai"}), record(OPENAI)))
        assert all(list(r) == keys for r in rows)


ODD_LINES = [
    '\ufeff{"instruction":"Caf\\u00e9 \u00e9t\u00e9 alpha beta gamma delta?",  "output": "epsilon zeta theta iota '
    'kappa lambda sigma omega river stone cloud market garden."}\r\n',
    '{ "output" : "ocean forest harbor lantern meadow copper alpha beta gamma delta epsilon zeta theta.", '
    '"instruction" : "River stone cloud market garden?", "score": 1e400, "n": 1.0E2, '
    '"big": 123456789012345678901234}\n',
    '\n',
    '   \n',
    '{"instruction": "Garden engine signal vector matrix planet?", "input": "", "output": "Lantern meadow copper '
    'river stone cloud market garden engine signal vector matrix planet.", "tags": ["\\/", "\\ud83d\\ude00"]}\n',
    '{"instruction": "Ocean forest harbor lantern?", "output": "Alpha beta gamma delta epsilon zeta theta iota kappa '
    'lambda sigma omega river stone.", "x": NaN}',  # NaN: read by Python's json; no newline at the end
]


@pytest.mark.parametrize("gz", [False, True])
def test_same_writes_each_selected_row_s_own_bytes(tmp_path, gz):
    """Odd spacing, key order, unicode escapes, 1e400 (no float holds it), 1.0E2, a 24-digit integer, a BOM,
    CRLF, blank lines, NaN and a last line without newline: every selected line is the input's, in both
    engines (the BOM is the file's, not the row's; the last line gets its newline)."""
    data = "".join(ODD_LINES).encode("utf-8")
    src = tmp_path / ("odd.jsonl.gz" if gz else "odd.jsonl")
    src.write_bytes(gzip.compress(data) if gz else data)
    expected = [line.encode("utf-8").removeprefix(b"\xef\xbb\xbf") for line in ODD_LINES if line.strip()]
    expected[-1] += b"\n"
    outs = []
    for streaming in ("off", "on"):
        c = build_config({"embedding": {"model": "hashing"}, "report": {"enabled": False},
                          "preprocess": {"filters": {"enabled": False}, "near": {"enabled": False}},
                          "engine": {"streaming": streaming}, "select": {"n": 4}, "input": {"format": "alpaca"}})
        run([src], tmp_path / streaming, c)
        outs.append((tmp_path / streaming / "selected.jsonl").read_bytes())
    assert outs[0] == outs[1]
    assert sorted(outs[0].splitlines(keepends=True)) == sorted(expected)


def test_rows_of_other_containers_are_written_as_read_beside_jsonl_lines(tmp_path):
    rows = as_rows("alpaca", conversations(30, seed=2))
    a = tmp_path / "a.jsonl"
    a.write_text("".join(json.dumps(r, indent=None, separators=(", ", " : ")) + "\n" for r in rows[:15]))
    b = tmp_path / "b.json"
    b.write_text(json.dumps(rows[15:]))
    run([a, b], tmp_path / "out", cfg())
    lines = (tmp_path / "out" / "selected.jsonl").read_text().splitlines()
    assert any(" : " in line for line in lines) and any('":"' in line for line in lines)  # both kinds selected
    assert all(json.loads(line) in rows for line in lines)


def test_a_jsonl_input_changed_during_the_run_is_refused(tmp_path):
    src = write_jsonl(tmp_path / "p.jsonl", as_rows("alpaca", conversations(5)))
    examples = [record(json.loads(line)) for line in src.read_text().splitlines()]
    examples = [Example(id=str(i), source=str(src), row=i, format="alpaca", original=ex.original, turns=ex.turns)
                for i, ex in enumerate(examples)]
    assert [line.rstrip(b"\n") for line in original_lines(examples)] == src.read_bytes().splitlines()
    lines = src.read_text().splitlines(keepends=True)
    src.write_text("".join([lines[1], lines[0], *lines[2:]]))
    with pytest.raises(InputError, match=r"p.jsonl, line 1: the input changed while the run was reading it"):
        original_lines(examples)
    src.write_text("".join(lines[:3]))
    with pytest.raises(InputError, match="the input changed"):
        original_lines(examples)


def test_mixed_input_formats_get_one_schema(tmp_path):
    convs = conversations(40, seed=7)
    a = write_jsonl(tmp_path / "a.jsonl", as_rows("alpaca", convs[:20]))
    b = write_jsonl(tmp_path / "b.jsonl", as_rows("sharegpt", convs[20:]))
    c = cfg("messages")
    c.select.n = 30
    run([a, b], tmp_path / "out", c)
    rows = [json.loads(line) for line in (tmp_path / "out" / "selected.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and all(list(r) == ["messages"] for r in rows)


# --- the flag ----------------------------------------------------------------------------------------------

def test_the_flag_on_run_and_select(tmp_path, cli):
    pool = write_jsonl(tmp_path / "pool.jsonl", as_rows("sharegpt", conversations(40, seed=3)))
    out = tmp_path / "run"
    code, text = cli("run", pool, "--out", out, "-n", "8", "--embedder", "hashing", "--output-format", "sharegpt")
    assert code == 0, text
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["selected"]["formatting"] == "sharegpt"
    assert all(set(json.loads(line)) == {"conversations", "system"}
               for line in (out / "selected.jsonl").read_text().splitlines())
    code, text = cli("select", out, "-n", "5", "--output-format", "text")
    assert code == 0, text
    assert not (out / "dataset_info.json").exists()  # the earlier sharegpt entry would describe text rows
    assert all(set(json.loads(line)) == {"text"} for line in (out / "selected.jsonl").read_text().splitlines())
    code, text = cli("select", out, "-n", "5", "--output-format", "bogus")
    assert code == 2 and "--output-format" in text and "'prompt_completion'" in text


def test_labelled_text_with_a_chat_schema_fails_before_anything_changes(tmp_path, cli):
    pool = write_jsonl(tmp_path / "pool.jsonl", as_rows("text_label", conversations(40)))
    out = tmp_path / "run"
    code, text = cli("run", pool, "--out", out, "-n", "8", "--embedder", "hashing", "--output-format", "alpaca")
    assert code == 2 and "--output-format alpaca" in text and "labelled text" in text
    assert not out.exists()  # refused after reading the input, before the run folder or any scoring
    code, text = cli("run", pool, "--out", out, "-n", "8", "--embedder", "hashing", "--output-format", "text")
    assert code == 0, text
    assert all(set(json.loads(line)) == {"text", "label"}
               for line in (out / "selected.jsonl").read_text().splitlines())
    before = (out / "selected.jsonl").read_bytes()
    code, text = cli("select", out, "-n", "4", "--output-format", "messages")
    assert code == 2 and "--output-format messages" in text
    assert (out / "manifest.json").exists() and (out / "selected.jsonl").read_bytes() == before


@pytest.mark.parametrize("block", [5, 64, 1 << 24])
@pytest.mark.parametrize("gz", [False, True])
def test_lines_are_found_where_the_reader_finds_rows_across_block_boundaries(tmp_path, monkeypatch, block, gz):
    """Rows (non-blank lines) by index, as readers.read_rows numbers them, whatever the block size: lines
    longer than a block, blank and whitespace-only lines, CRLF, a last line without a newline."""
    import numpy as np

    from sft_select.io import row_bytes
    from sft_select.io.readers import read_rows

    monkeypatch.setattr(row_bytes, "_BLOCK", block)
    text = ('{"a": 1}\n\n  \n{"b": "' + "x" * 100 + '"}\r\n\t\n{"c": [1, 2]}\n \t \r\n{"d": "\u00e9"}\n\n{"e": 5}')
    data = text.encode("utf-8")
    src = tmp_path / ("f.jsonl.gz" if gz else "f.jsonl")
    src.write_bytes(gzip.compress(data) if gz else data)
    rows = list(read_rows(src))
    for wanted in ([0, 1, 2, 3, 4], [1, 4], [4], [0]):
        got = list(row_bytes.lines_at(src, np.array(wanted)))
        assert [(k, line) for k, line, _ in got] == [(rows[k].index, rows[k].line) for k in wanted]
        assert [json.loads(raw) for _, _, raw in got] == [rows[k].data for k in wanted]
