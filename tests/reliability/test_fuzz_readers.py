"""Property-based tests of every reader and format detector: bad bytes end in a clear error, never a traceback.

Each test writes what hypothesis drew to a temp file, loads it in both error modes and hands the outcome
to the oracle in fuzz.py. The counts of cases tried are printed at the end of the session.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from sft_select.core.errors import InputError
from sft_select.io.formats import FORMATS, Parsed, RowError, detect_format, parse_row
from sft_select.io.load import load_file

from .fuzz import CONTAINERS, check_load, encode_rows, format_rows, fuzz_settings, json_values, plain_text, record


def _load_both_modes(test: str, data: bytes, container: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input.{container}"
        path.write_bytes(data)
        for on_error in ("fail", "skip"):
            record(test, check_load(path, container, on_error=on_error))
        assert path.read_bytes() == data, "reading must never modify the input"


@fuzz_settings(150)
@given(data=st.binary(max_size=600), container=st.sampled_from(CONTAINERS),
       magic=st.sampled_from([b"", b"PAR1", b"\x1f\x8b", b"\xef\xbb\xbf", b"[", b"{", b"text\n"]))
def test_arbitrary_bytes(data: bytes, container: str, magic: bytes) -> None:
    """Random bytes, sometimes behind a real file's magic number, under every file suffix."""
    _load_both_modes("arbitrary_bytes", magic + data, container)


@fuzz_settings(200)
@given(rows=st.lists(format_rows() | json_values, max_size=6), container=st.sampled_from(CONTAINERS),
       ascii_only=st.booleans(), bom=st.booleans(), crlf=st.booleans(), wrap=st.booleans())
def test_rows_of_wrong_types(rows, container, ascii_only, bom, crlf, wrap) -> None:
    """Well-formed files whose rows have missing fields, wrong types, empty strings, lone surrogates."""
    data = encode_rows(rows, container, ascii_only=ascii_only, bom=bom, crlf=crlf, wrap=wrap)
    _load_both_modes("rows_of_wrong_types", data, container)


@fuzz_settings(120)
@given(rows=st.lists(format_rows(), min_size=1, max_size=6), container=st.sampled_from(CONTAINERS),
       cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=3))
# Found by bench/fuzz_readers.py: a damaged byte before the cut made the CSV line lookup hit the cut.
@example(rows=[{"instruction": "0", "output": "0"}], container="csv.gz", cut=0.5, flips=[(0.5, 16)])
def test_truncated_and_damaged(rows, container, cut, flips) -> None:
    """A valid file cut short at any byte, with a few bytes flipped: the state a killed export leaves."""
    data = bytearray(encode_rows(rows, container))
    data = data[: int(len(data) * cut)]
    for where, mask in flips:
        if data:
            data[min(int(where * len(data)), len(data) - 1)] ^= mask
    _load_both_modes("truncated_and_damaged", bytes(data), container)


@fuzz_settings(40)
@given(depth=st.integers(1, 5000), container=st.sampled_from(["jsonl", "json", "jsonl.gz"]),
       opener=st.sampled_from(["[", '{"a":']), valid=st.booleans())
def test_deep_nesting(depth: int, container: str, opener: str, valid: bool) -> None:
    """Nesting from 1 to 5000 levels in a field: read and writable back, or refused with a message."""
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + ("0" if opener != "[" else "") + closer * (depth if valid else depth // 2)
    line = '{"text": "deep", "x": ' + inner + "}"
    body = (line + "\n") if container.startswith("jsonl") else "[" + line + "]"
    data = body.encode()
    if container.endswith(".gz"):
        import gzip

        data = gzip.compress(data, mtime=0)
    _load_both_modes("deep_nesting", data, container)


@fuzz_settings(10)
@given(size=st.sampled_from([0, 1, 70_000, 1_100_000, 3_000_000]),
       char=st.sampled_from(["x", "é", "字", "😀", "\n", " "]),
       where=st.sampled_from(["text", "label", "key", "many"]), container=st.sampled_from(CONTAINERS))
def test_huge_fields(size: int, char: str, where: str, container: str) -> None:
    """Fields of up to 3 million characters (up to 12 MB of UTF-8) in values, labels or keys."""
    big = char * size
    row = {"text": big, "label": "a"} if where == "text" else \
        {"text": "t", "label": big} if where == "label" else \
        {"text": "t", big or "k": "v"} if where == "key" else \
        {"text": "t", **{f"f{i}": big[: size // 50] for i in range(50)}}
    _load_both_modes("huge_fields", encode_rows([row, {"text": "ok", "label": "b"}], container), container)


ONE_OF_EACH = {
    "alpaca": {"instruction": "Say hi.", "input": "", "output": "Hi."},
    "sharegpt": {"conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "Hi."}]},
    "openai": {"messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi."}]},
    "prompt_completion": {"prompt": "Say hi.", "completion": "Hi."},
    "text_label": {"text": "Say hi.", "label": "greeting"},
}


@fuzz_settings(60)
@given(formats=st.lists(st.sampled_from(sorted(ONE_OF_EACH)), min_size=1, max_size=8),
       container=st.sampled_from(["jsonl", "json", "jsonl.gz", "parquet"]))
def test_mixed_formats_in_one_file(formats: list[str], container: str) -> None:
    """Rows of several formats in one file: the first row sets the format; the first row of another
    format is the error (by line, with its missing field), or with --on-error skip it is rejected."""
    rows = [ONE_OF_EACH[f] for f in formats]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"mixed.{container}"
        path.write_bytes(encode_rows(rows, container))
        first_other = next((i for i, f in enumerate(formats) if f != formats[0]), None)
        try:
            loaded = load_file(path)
            assert first_other is None, "a file mixing formats was read without complaint"
            assert [ex.format for ex in loaded.examples] == formats
            record("mixed_formats", "ok")
        except InputError as exc:
            assert first_other is not None, f"a one-format file failed: {exc}"
            # JSONL: its line; a JSON list: its element; Parquet: its row (issue #23: not "line N" there)
            place = {"json": "element", "parquet": "row"}.get(container, "line")
            number = exc.line if place == "line" else exc.number
            assert number == first_other + 1 and exc.field, f"wrong place named: {exc}"
            assert f", {place} {first_other + 1}: " in str(exc), f"the message names no {place}: {exc}"
            record("mixed_formats", "error")
        skipped = load_file(path, on_error="skip")
        assert len(skipped.examples) + len(skipped.rejected) == len(rows), "a row went missing"
        assert all(ex.format == formats[0] for ex in skipped.examples)


@fuzz_settings(200)
@given(row=format_rows(), fmt=st.sampled_from([None, *FORMATS]),
       mapping=st.dictionaries(st.sampled_from(["instruction", "output", "text", "messages", "role"]),
                               st.sampled_from(["question", "answer", "body", "turns", "speaker"]), max_size=2))
def test_detect_and_parse_rows(row, fmt, mapping) -> None:
    """The format detector and row parser on any row: a format name or None, a parse or a RowError."""
    detected = detect_format(row, mapping)
    assert detected is None or detected in FORMATS
    use = fmt or detected
    if use is None:
        record("detect_and_parse", "undetected")
        return
    try:
        parsed = parse_row(row, use, mapping)
    except RowError as exc:
        assert str(exc), "a RowError without a message"
        record("detect_and_parse", "row_error")
        return
    assert isinstance(parsed, Parsed)
    assert (parsed.text or "").strip() or any(t.content.strip() for t in parsed.turns)
    assert all(t.role in ("system", "user", "assistant") for t in parsed.turns)
    record("detect_and_parse", "parsed")


@fuzz_settings(30)
@given(lines=st.lists(st.one_of(plain_text.map(lambda t: json.dumps({"text": t})),
                                st.sampled_from(["", "   ", "{", "null", "[1]", '{"text": 1}', '"x"',
                                                 '{"text": "a", "x": ' + "1" * 5000 + "}",
                                                 '{"text": "\\ud83d"}', "\ufeff" + '{"text": "bom"}'])),
                      min_size=1, max_size=12))
def test_jsonl_line_numbers(lines: list[str]) -> None:
    """In fail mode the error names the exact line of the first bad row; in skip mode each rejected row
    carries its own line, and kept plus rejected rows account for every non-blank line."""
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.jsonl"
        path.write_bytes(data)
        skipped = None
        try:
            skipped = load_file(path, on_error="skip")
        except InputError as exc:
            record("jsonl_line_numbers", "error")
            assert exc.detail == "the file holds no rows" or exc.line is not None
            return
        nonblank = [i + 1 for i, line in enumerate(lines) if line.strip()]
        assert len(skipped.examples) + len(skipped.rejected) == len(nonblank)
        assert all(r.line in nonblank for r in skipped.rejected)
        bad = sorted(r.line for r in skipped.rejected)
        try:
            load_file(path)
            assert not bad, "fail mode accepted a file that skip mode rejected rows of"
            record("jsonl_line_numbers", "ok")
        except InputError as exc:
            assert bad and exc.line == bad[0], f"error at line {exc.line}, first bad line {bad[:1]}"
            record("jsonl_line_numbers", "error")
