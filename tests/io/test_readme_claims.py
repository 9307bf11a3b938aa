"""What README.md and docs/formats.md say about the selected file is what the code does: the output formats
they list are the ones the config accepts, and `same` keeps a JSONL input's bytes."""
from __future__ import annotations

import re
from pathlib import Path

from sft_select.config.schema import OUTPUT_FORMATS, build_config
from sft_select.pipelines.in_memory import run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FORMATS_DOC = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")


def test_the_formats_listed_are_the_formats_accepted():
    listed = re.search(r"\[--output-format ([a-z_|]+)\]", README)
    assert listed is not None, "README's Command line section lists --output-format's values"
    assert listed.group(1).split("|") == list(OUTPUT_FORMATS)
    table = re.findall(r"^\| `([a-z_]+)` \|", FORMATS_DOC, flags=re.M)
    assert table == list(OUTPUT_FORMATS)


def test_the_byte_claim_is_what_same_does(tmp_path):
    assert "no conversion" not in README and "not the input's bytes" not in README
    assert "byte for byte" in README and "byte for byte" in FORMATS_DOC
    lines = [
        '{"output": "Alpha beta gamma delta epsilon zeta theta iota kappa lambda.",   "instruction": "Sigma omega?"}\n',
        '{"instruction":"Caf\\u00e9 river stone cloud?","output":"Market garden engine signal vector matrix planet.",'
        '"weight":1e400}\n',
        '{ "instruction" : "Ocean forest harbor?" , "output" : "Lantern meadow copper alpha beta gamma delta." }\n',
    ]
    src = tmp_path / "pool.jsonl"
    src.write_text("".join(lines), encoding="utf-8")
    cfg = build_config({"embedding": {"model": "hashing"}, "report": {"enabled": False}, "select": {"n": 3},
                        "preprocess": {"near": {"enabled": False}}})
    run([src], tmp_path / "run", cfg)
    assert (tmp_path / "run" / "selected.jsonl").read_bytes() == "".join(lines).encode("utf-8")


def _recipe(target: str) -> str:
    """The commands of a Makefile target, joined, with `$(BIN)/` dropped and whitespace collapsed."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    block = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)+)", text, flags=re.M)
    assert block is not None, f"Makefile has a `{target}` target"
    return " ".join(block.group(1).replace("$(BIN)/", "").split())


def test_the_readme_starts_with_the_two_setup_commands_and_they_do_what_it_says():
    first_block = re.search(r"```bash\n(.*?)```", README, flags=re.S)
    assert first_block is not None and README.index("```bash") < README.index("\n## ")
    commands = [line.split("#", 1)[0].strip() for line in first_block.group(1).strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "demo: install" in (ROOT / "Makefile").read_text() and "test: install" in (ROOT / "Makefile").read_text()
    shown = re.search(r"```bash\n(sft-select run examples/demo/[^\n]*)\n```", README)
    assert shown is not None, "the README shows the command `make demo` runs"
    assert " ".join(shown.group(1).split()) in _recipe("demo")
    assert "python -m pytest" in _recipe("test")
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # CI runs the README's test command
