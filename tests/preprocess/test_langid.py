"""The language filter names what it detected, and does not judge lists and names."""
import gzip
import json
from pathlib import Path

import pytest

from sft_select.preprocess.config import FilterConfig
from sft_select.preprocess.filters import apply_filters
from sft_select.preprocess.langid import running_text

from .helpers import chat

pytest.importorskip("lingua")
DOLLY = Path("/work/shared/data/dolly_3k_categories/dolly_3k.json.gz")


def test_the_reason_names_the_detected_language_and_its_confidence():
    exs = [chat("Erkläre die Photosynthese in einem Absatz, bitte.",
                "Pflanzen wandeln Sonnenlicht, Wasser und Kohlendioxid in ihren Blättern in Zucker und Sauerstoff um.")]
    (reason,) = apply_filters(exs, [0], FilterConfig(lang=["en"])).values()
    head, detected, wanted = reason.split(" (", 1)[0], reason.split(": ", 1)[1], reason.rsplit(", ", 1)[1]
    assert head == "filter_language: detected de"
    assert 0.5 < float(detected.split("(")[1].split(")")[0]) <= 1.0
    assert wanted.startswith("wanted en (0.")


def test_lists_and_names_are_too_short_to_judge():
    english = [chat("Name 10 colors",
                    "Fuschia, magenta, orange, green, blue, red, yellow, chartreuse, aquamarine, sienna"),
               chat("What is the smallest state in the USA?", "Rhode Island"),
               chat("Tell me whether each of these are green or yellow: lemon, lime, cheese, spinach, lettuce",
                    "Lemon: Yellow\nLime: Green\nCheese: Yellow\nSpinach: Green\nLettuce: Green")]
    assert apply_filters(english, range(3), FilterConfig(lang=["en"])) == {}
    assert running_text("Name 10 colors\n\nFuschia, magenta, orange, green") == ""


def test_chinese_running_text_counts_characters():
    zh = chat("请用一段话解释光合作用。", "植物利用阳光、水和二氧化碳在叶子里制造糖和氧气，这个过程叫做光合作用。")
    (reason,) = apply_filters([zh], [0], FilterConfig(lang=["en"])).values()
    assert reason.startswith("filter_language: detected zh (")


@pytest.mark.skipif(not DOLLY.exists(), reason="the shared Dolly data is not on this machine")
def test_few_english_dolly_rows_are_dropped():
    rows = json.loads(gzip.decompress(DOLLY.read_bytes()))[:600]
    exs = [chat((r["instruction"] + "\n\n" + r["input"]).strip(), r["output"], row=i) for i, r in enumerate(rows)]
    drops = apply_filters(exs, range(len(exs)), FilterConfig(lang=["en"], min_response_words=0))
    language = [r for r in drops.values() if r.startswith("filter_language")]
    assert len(language) <= 15  # 22 of these 600 before lists and names were left unjudged; 14 after
