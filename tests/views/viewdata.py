"""Small generated data for the view tests: topics with their own vocabulary, seeded, no files.

`make_pool` builds instruction or labelled-text examples whose topic is known, so a test can say what
the right answer is (which examples are on target, which labels were flipped). A plain module with a
unique name (not conftest) so test files can import it whatever other conftest files exist.
"""
from __future__ import annotations

import random
from typing import Sequence

from sft_select.core.record import Example, Turn, assign_ids, content_hash
from sft_select.views.base import View

TOPICS = {
    "python": "python function list dictionary loop import module class exception variable string integer "
              "iterate syntax interpreter package pip virtualenv decorator generator lambda tuple",
    "cooking": "recipe oven flour butter sugar bake simmer garlic onion pan salt pepper dough boil "
               "roast sauce knife chop skillet tomato basil",
    "astronomy": "planet star galaxy telescope orbit moon comet nebula solar eclipse asteroid gravity "
                 "jupiter saturn light year cosmos supernova meteor",
    "finance": "stock bond interest rate inflation budget invest dividend loan mortgage tax savings "
               "portfolio market bank credit equity revenue",
}
FILLER = "the a of to and in is it for on with as that this by be are how what can you please".split()


def sentence(rng: random.Random, topic: str, n: int = 12) -> str:
    words = TOPICS[topic].split()
    out = [rng.choice(words) if rng.random() < 0.6 else rng.choice(FILLER) for _ in range(n)]
    return " ".join(out).capitalize() + "."


def with_ids(examples: Sequence[Example]) -> list[Example]:
    ids = assign_ids([content_hash(ex.turns, ex.text, ex.label) for ex in examples])
    return [Example(id=i, source=ex.source, row=ex.row, format=ex.format, original=ex.original, turns=ex.turns,
                    text=ex.text, label=ex.label) for ex, i in zip(examples, ids)]


def chat(prompt: str, response: str, row: int = 0, **original) -> Example:
    turns = (Turn("user", prompt), Turn("assistant", response))
    return Example(id="", source="gen", row=row, format="alpaca",
                   original={"instruction": prompt, "output": response, **original}, turns=turns)


def text(body: str, label: str | None, row: int = 0) -> Example:
    return Example(id="", source="gen", row=row, format="text_label", original={"text": body, "label": label},
                   text=body, label=label)


def make_pool(counts: dict[str, int], *, kind: str = "chat", seed: int = 0, sentences: int = 2) -> list[Example]:
    """`counts[topic]` examples per topic, in a seeded shuffle; text rows are labelled with their topic."""
    rng = random.Random(seed)
    rows = []
    for topic, n in counts.items():
        for _ in range(n):
            body = " ".join(sentence(rng, topic) for _ in range(sentences))
            if kind == "chat":
                rows.append(chat(f"Question about {topic}: {sentence(rng, topic, 8)}", body))
            else:
                rows.append(text(body, topic))
    rng.shuffle(rows)
    rows = [Example(id="", source=ex.source, row=i, format=ex.format, original=ex.original, turns=ex.turns,
                    text=ex.text, label=ex.label) for i, ex in enumerate(rows)]
    return with_ids(rows)


def topic_of(ex: Example) -> str:
    return ex.label if ex.label is not None else ex.prompt.split(":")[0].removeprefix("Question about ")


def conformance_data() -> dict[str, tuple[list[Example], list[Example]]]:
    """(pool, target) per data kind; a view runs on the first kind it does not skip."""
    return {
        "chat": (make_pool({"python": 8, "cooking": 8, "astronomy": 8}, kind="chat", seed=1),
                 make_pool({"python": 5}, kind="chat", seed=2)),
        "text": (make_pool({"python": 10, "cooking": 10, "astronomy": 10}, kind="text", seed=3),
                 make_pool({"python": 5}, kind="text", seed=4)),
    }


def conformance_params(cls: type[View]) -> dict:
    """Views that embed use the model-free hashing embedder; a view may add its own test parameters."""
    params = {"model": "hashing"} if "model" in cls.param_names() else {}
    return {**params, **cls.conformance_params}


