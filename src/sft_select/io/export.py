"""The selected rows in a trainer's schema (`output.format`), made from the record, one converter each.

  messages           {"messages": [{"role", "content"}, ...]}, the system prompt first: TRL's conversational
                     format, axolotl's `chat_template`, LLaMA-Factory's sharegpt formatting with OpenAI tags
  alpaca             {"instruction", "input", "output", "system", "history"}: LLaMA-Factory's alpaca
                     formatting (`history`: the earlier [user, assistant] pairs), axolotl's `alpaca`
  sharegpt           {"conversations": [{"from": "human" | "gpt", "value"}], "system"}: LLaMA-Factory's
                     sharegpt formatting, axolotl's `chat_template` with the sharegpt field names
  prompt_completion  TRL's prompt-completion: the prompt is every turn before the last assistant turn and
                     the completion that turn, as messages; as plain strings when every input is
                     prompt/completion text (one user turn, no system prompt)
  text               TRL's language modeling {"text"}: labelled text as {"text", "label"}, a conversation
                     rendered as "### System:\\n…\\n\\n### User:\\n…\\n\\n### Assistant:\\n…"

`same` is not here: it writes the input's rows themselves (rundir/outputs.py, from the lines
io/row_bytes.py finds). One schema for every row, whatever the inputs' formats, since they all become
the same record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sft_select.core.errors import ConfigError
from sft_select.core.record import Example, Turn

CHAT_ONLY = ("messages", "alpaca", "sharegpt", "prompt_completion")  # schemas made of turns
_SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}
_TEXT_HEADER = {"system": "### System:", "user": "### User:", "assistant": "### Assistant:"}


@dataclass(frozen=True)
class Export:
    """How selected rows are written in `format`: made once a run by `Export.of`, and picklable, so the
    workers of a streaming run convert the rows they read. `fields`: the input's field mapping, read for
    the alpaca inputs' own instruction/input and the labelled inputs' label."""

    format: str
    fields: Mapping[str, str] = field(default_factory=dict)
    conversational: bool = True  # prompt_completion as messages, not strings

    @classmethod
    def of(cls, output_format: str, formats: Mapping[str, str], fields: Mapping[str, str] | None = None
           ) -> "Export | None":
        """The export for `output_format` over inputs of these row `formats` (source -> format); None for
        `same`. Labelled text asked for a schema of turns is a ConfigError naming the flag."""
        if output_format == "same":
            return None
        if output_format not in ROWS:
            raise ConfigError(f"--output-format {output_format}: unknown; expected same, {', '.join(ROWS)}")
        kinds = set(formats.values()) - {"unknown"}  # "unknown": a file whose every row was unreadable
        if output_format in CHAT_ONLY and "text_label" in kinds:
            labelled = [s for s, f in formats.items() if f == "text_label"]
            raise ConfigError(f"--output-format {output_format} (output.format): {', '.join(labelled)} "
                              f"hold{'s' * (len(labelled) == 1)} labelled text (text/label rows), which has no "
                              "turns to write as "
                              f"{output_format}; use --output-format text or same")
        return cls(output_format, dict(fields or {}), conversational=kinds != {"prompt_completion"})

    def row(self, ex: Example) -> dict[str, Any]:
        return ROWS[self.format](self, ex)

    def dataset_info(self, file_name: str) -> dict[str, Any] | None:
        """LLaMA-Factory's dataset_info.json for the file (`dataset: selected`, `dataset_dir: RUN_DIR`),
        where LLaMA-Factory reads the schema; else None."""
        entry = LLAMA_FACTORY.get(self.format)
        return None if entry is None else {"selected": {"file_name": file_name, **entry}}

    def _field(self, name: str) -> str:
        return self.fields.get(name, name)


def mixed_formats_note(formats: Mapping[str, str]) -> str | None:
    """What to tell the user when `same` writes rows of several formats into one file, else None."""
    kinds = sorted(set(formats.values()) - {"unknown"})
    if len(kinds) < 2:
        return None
    return (f"the inputs are in different formats ({', '.join(kinds)}): the selected file holds each row as "
            "read, in its own schema; --output-format messages (or alpaca, sharegpt, prompt_completion, "
            "text) writes every row in one")


def turns(ex: Example, export: Export) -> tuple[Turn, ...]:
    """The record's turns, with a ShareGPT row's `system` column as the first turn (the ShareGPT reader
    keeps only the conversation; LLaMA-Factory's sharegpt files carry the system prompt beside it)."""
    if ex.format == "sharegpt" and not (ex.turns and ex.turns[0].role == "system"):
        system = ex.original.get(export._field("system"))
        if isinstance(system, str) and system.strip():
            return (Turn("system", system), *ex.turns)
    return ex.turns


def _leading(all_turns: tuple[Turn, ...]) -> int:
    """How many system turns open the conversation."""
    n = 0
    while n < len(all_turns) and all_turns[n].role == "system":
        n += 1
    return n


def _split(all_turns: tuple[Turn, ...]) -> tuple[str, tuple[Turn, ...], Turn | None]:
    """(the opening system turns' text, the turns between them and the last assistant turn, that turn or
    None). Turns after the last assistant turn (a conversation that ends on the user) have no place in
    the schemas that split prompt from response."""
    start = _leading(all_turns)
    system = "\n\n".join(t.content for t in all_turns[:start])
    for i in range(len(all_turns) - 1, start - 1, -1):
        if all_turns[i].role == "assistant":
            return system, all_turns[start:i], all_turns[i]
    return system, all_turns[start:], None


def _messages(export: Export, ex: Example) -> dict[str, Any]:
    return {"messages": [{"role": t.role, "content": t.content} for t in turns(ex, export)]}


def _sharegpt(export: Export, ex: Example) -> dict[str, Any]:
    all_turns = turns(ex, export)
    lead = _leading(all_turns)
    return {"conversations": [{"from": _SHAREGPT_FROM[t.role], "value": t.content} for t in all_turns[lead:]],
            "system": "\n\n".join(t.content for t in all_turns[:lead])}


def _alpaca(export: Export, ex: Example) -> dict[str, Any]:
    system, before, last = _split(turns(ex, export))
    output = last.content if last is not None else ""
    if ex.format == "alpaca":  # the row's own instruction and input, which the record joined
        f = export._field
        return {"instruction": ex.original[f("instruction")], "input": ex.original.get(f("input")) or "",
                "output": output, "system": system, "history": []}
    # Earlier turns as [user, assistant] pairs: consecutive turns of one side are joined (a system turn
    # past the first ones counts as the user's), since the schema holds one string per side and round.
    history: list[list[str]] = []
    user: list[str] = []
    assistant: list[str] = []
    for turn in before:
        if turn.role == "assistant":
            assistant.append(turn.content)
            continue
        if assistant:
            history.append(["\n\n".join(user), "\n\n".join(assistant)])
            user, assistant = [], []
        user.append(turn.content)
    if assistant:
        history.append(["\n\n".join(user), "\n\n".join(assistant)])
        user = []
    return {"instruction": "\n\n".join(user), "input": "", "output": output, "system": system,
            "history": history}


def _prompt_completion(export: Export, ex: Example) -> dict[str, Any]:
    all_turns = turns(ex, export)
    if not export.conversational:  # prompt/completion text in, text out
        return {"prompt": ex.prompt, "completion": ex.response}
    last = len(all_turns) - 1
    while last >= 0 and all_turns[last].role != "assistant":
        last -= 1
    prompt = all_turns[:last] if last >= 0 else all_turns
    completion = all_turns[last].content if last >= 0 else ""
    return {"prompt": [{"role": t.role, "content": t.content} for t in prompt],
            "completion": [{"role": "assistant", "content": completion}]}


def _text(export: Export, ex: Example) -> dict[str, Any]:
    if ex.text is not None:
        return {"text": ex.text, "label": ex.original.get(export._field("label"))}
    return {"text": "\n\n".join(f"{_TEXT_HEADER[t.role]}\n{t.content}" for t in turns(ex, export))}


ROWS: dict[str, Callable[[Export, Example], dict[str, Any]]] = {
    "messages": _messages, "alpaca": _alpaca, "sharegpt": _sharegpt,
    "prompt_completion": _prompt_completion, "text": _text,
}

# LLaMA-Factory's dataset_info.json entries: the keys its parser reads (data/parser.py, DatasetAttr.join:
# formatting, columns, tags), with the values its converters expect (data/converter.py).
LLAMA_FACTORY: dict[str, dict[str, Any]] = {
    "alpaca": {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                                   "system": "system", "history": "history"}},
    "sharegpt": {"formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system"},
                 "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                          "system_tag": "system"}},
    "messages": {"formatting": "sharegpt", "columns": {"messages": "messages"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                          "assistant_tag": "assistant", "system_tag": "system"}},
}
