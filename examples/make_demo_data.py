"""Generate the bundled demo pool: Alpaca-format instruction data with realistic defects.

The target task is Python programming help. The pool mixes on-target items with off-target ones
(cooking, history, travel) and plants the defects a real scraped pool has: exact duplicates,
near-duplicates (small edits), empty and truncated responses, refusals and echoed prompts.
Deterministic for a seed. Usage: python examples/make_demo_data.py OUT_DIR [--n 400] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

PY_TASKS = [
    ("reverse a list", "Use slicing: `items[::-1]` returns a reversed copy, while `items.reverse()` reverses in place. "
     "Slicing is clearer when you need to keep the original list."),
    ("read a file line by line", "Open the file in a `with` block and iterate over it: `with open(path) as fh: "
     "for line in fh: process(line)`. The file object yields one line at a time, so memory stays flat."),
    ("count word frequencies", "Split the text and pass the words to `collections.Counter`: "
     "`Counter(text.lower().split()).most_common(10)` gives the ten most frequent words with their counts."),
    ("merge two dictionaries", "In Python 3.9+ use the union operator: `merged = a | b`. Keys in `b` win. "
     "For older versions, `{**a, **b}` does the same."),
    ("remove duplicates from a list while keeping order", "Use `list(dict.fromkeys(items))`: dictionaries keep "
     "insertion order, so the first occurrence of each item is kept and later repeats are dropped."),
    ("parse JSON from a string", "Call `json.loads(text)`. It returns dicts and lists; wrap it in "
     "`try/except json.JSONDecodeError` to report malformed input with its line and column."),
    ("sort a list of dicts by a key", "Pass a key function: `sorted(rows, key=lambda r: r['age'])`. Add "
     "`reverse=True` for descending order, or use `operator.itemgetter('age')` for speed."),
    ("time a function", "Use `time.perf_counter()` before and after the call, or `timeit.timeit(fn, number=100)` "
     "for repeated measurements that smooth out noise."),
    ("flatten a nested list", "For one level of nesting use `[x for sub in nested for x in sub]`, or "
     "`itertools.chain.from_iterable(nested)` to avoid building an intermediate list."),
    ("write a CSV file", "Use `csv.writer`: `with open(path, 'w', newline='') as fh: w = csv.writer(fh); "
     "w.writerow(header); w.writerows(rows)`. The `newline=''` avoids blank lines on Windows."),
    ("check if a string is a palindrome", "Normalize then compare with its reverse: `s = ''.join(c.lower() for c "
     "in s if c.isalnum()); return s == s[::-1]`."),
    ("handle a missing dictionary key", "Use `d.get(key, default)` for a fallback value, or "
     "`collections.defaultdict` when every missing key should start from the same default."),
    ("create a virtual environment", "Run `python -m venv .venv`, then activate it with `source .venv/bin/activate` "
     "and install packages with pip; they stay isolated from the system Python."),
    ("make an HTTP request", "With the requests library: `resp = requests.get(url, timeout=10); "
     "resp.raise_for_status(); data = resp.json()`. Always set a timeout."),
    ("find the largest item in a list", "Call `max(items)`; pass `key=` to compare by an attribute, and "
     "`default=None` to avoid an error on an empty list."),
    ("use a list comprehension with a condition", "Put the filter at the end: `[x * 2 for x in nums if x > 0]` "
     "doubles only the positive numbers."),
]
PY_PHRASES = ["How do I {t} in Python?", "In Python, what is the best way to {t}?",
              "Show me how to {t} using Python.", "Python question: how can I {t}?"]

OFF_TOPIC = [
    ("Give me a simple recipe for pancakes.", "Whisk 1 cup flour, 1 tablespoon sugar, 2 teaspoons baking powder "
     "and a pinch of salt. Add 1 cup milk, 1 egg and 2 tablespoons melted butter. Cook ladles of batter on a hot "
     "greased pan until bubbles form, then flip."),
    ("Who was the first emperor of Rome?", "Augustus, born Octavian, became the first Roman emperor in 27 BC "
     "after defeating Mark Antony and Cleopatra. He ruled until his death in AD 14."),
    ("What should I pack for a week in Iceland?", "Pack waterproof layers, a warm fleece, thermal underwear, "
     "hiking boots, a swimsuit for the hot springs, and a sleep mask for the long summer days."),
    ("Summarize the causes of the French Revolution.", "Fiscal crisis from war debts, a rigid estate system, "
     "bread shortages, and Enlightenment ideas about rights and popular sovereignty combined to topple the monarchy."),
    ("How long should I boil an egg for a soft yolk?", "About six minutes from boiling water, then move it to "
     "ice water for a minute so it stops cooking and peels easily."),
    ("Suggest a name for a bakery.", "Try 'Rise & Shine Bakehouse', 'The Golden Crumb' or 'Flour Power'."),
    ("Explain how tides work.", "The Moon's gravity pulls the ocean into a bulge on the side facing it and, by "
     "inertia, on the far side too. As Earth rotates, coastlines pass through these bulges twice a day."),
    ("What is a good beginner houseplant?", "A pothos: it tolerates low light, irregular watering and still "
     "grows quickly. Water when the top inch of soil is dry."),
]


def _near_copy(text: str, rng: random.Random) -> str:
    """A near-duplicate: a couple of small edits, as scraping and paraphrasing leave them."""
    words = text.split()
    for _ in range(2):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["the", "a", "this", "simply", "just"]) if rng.random() < 0.5 else words[i].upper()
    return " ".join(words)


def make_pool(n: int = 400, seed: int = 0) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    pool: list[dict] = []
    # Targets are written from held-out phrasings of the Python tasks.
    target = [{"instruction": f"Can you explain how to {t} in Python?", "input": "", "output": a}
              for t, a in PY_TASKS[::2]]
    while len(pool) < n:
        r = rng.random()
        if r < 0.45:
            task, answer = rng.choice(PY_TASKS)
            row = {"instruction": rng.choice(PY_PHRASES).format(t=task), "input": "", "output": answer}
        elif r < 0.75:
            q, a = rng.choice(OFF_TOPIC)
            row = {"instruction": q, "input": "", "output": a}
        elif r < 0.80 and pool:
            row = dict(rng.choice(pool))  # exact duplicate
        elif r < 0.86 and pool:
            src = rng.choice(pool)
            row = dict(src, output=_near_copy(src["output"], rng)) if src["output"] else dict(src)
        elif r < 0.89:
            task, _ = rng.choice(PY_TASKS)
            row = {"instruction": f"How do I {task} in Python?", "input": "", "output": ""}  # empty response
        elif r < 0.93:
            task, answer = rng.choice(PY_TASKS)
            cut = answer[: max(20, len(answer) // 2)].rsplit(" ", 1)[0]
            row = {"instruction": f"How do I {task} in Python?", "input": "", "output": cut}  # truncated
        elif r < 0.97:
            q, _ = rng.choice(OFF_TOPIC + [(rng.choice(PY_PHRASES).format(t=t), a) for t, a in PY_TASKS[:4]])
            row = {"instruction": q, "input": "", "output": "As an AI language model, I cannot help with that request."}
        else:
            task, _ = rng.choice(PY_TASKS)
            q = f"How do I {task} in Python?"
            row = {"instruction": q, "input": "", "output": q}  # echoes the prompt
        pool.append(row)
    return pool, target


def write_jsonl(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pool, target = make_pool(args.n, args.seed)
    write_jsonl(pool, args.out / "pool.jsonl")
    write_jsonl(target, args.out / "target.jsonl")
    print(f"wrote {len(pool)} pool rows and {len(target)} target rows to {args.out}")


if __name__ == "__main__":
    main()
