"""The selected files against the trainers that read them: TRL's own dataset utilities and SFTTrainer's
dataset preparation (without training), and LLaMA-Factory's and axolotl's loaders, which are too heavy to
install here, re-enacted from their source: only the keys they read, read as they read them (the file and
function are named at each)."""
from __future__ import annotations

import inspect
import json
import types
from pathlib import Path

import pytest
from tests.io.test_output_formats import as_rows, conversations, write_jsonl

from sft_select.config.schema import build_config
from sft_select.pipelines.in_memory import run

N = 12


def _run(pool: Path, out: Path, output_format: str) -> list[dict]:
    cfg = build_config({"embedding": {"model": "hashing"}, "report": {"enabled": False}, "select": {"n": N},
                        "output": {"format": output_format}})
    run([pool], out, cfg)
    return [json.loads(line) for line in (out / "selected.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each schema from an OpenAI pool (system prompt on half the rows, 1-3 rounds), plus prompt_completion from
    prompt/completion text, an Alpaca pool as read and text from labelled text; with the pool's conversations
    by first user turn."""
    root = tmp_path_factory.mktemp("consumers")
    convs = conversations(60, seed=11)
    chat = write_jsonl(root / "chat.jsonl", as_rows("openai", convs))
    out = {fmt: (root / fmt, _run(chat, root / fmt, fmt))
           for fmt in ("messages", "alpaca", "sharegpt", "prompt_completion", "text", "same")}
    pc = write_jsonl(root / "pc.jsonl", as_rows("prompt_completion", convs))
    out["prompt_completion text"] = (root / "pc", _run(pc, root / "pc", "prompt_completion"))
    alpaca = write_jsonl(root / "alpaca.jsonl", as_rows("alpaca", convs))
    out["alpaca same"] = (root / "alpaca-same", _run(alpaca, root / "alpaca-same", "same"))
    labelled = write_jsonl(root / "labelled.jsonl", as_rows("text_label", convs))
    out["text_label"] = (root / "labelled", _run(labelled, root / "labelled", "text"))
    by_first = {rounds[0][0]: (system, rounds) for system, rounds in convs}
    return out, by_first


def turns_of(system: str, rounds) -> list[tuple[str, str]]:
    return ([("system", system)] if system else []) + [t for u, a in rounds for t in (("user", u), ("assistant", a))]


# --- TRL ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer():
    """A word-level tokenizer with a chat template, built offline."""
    pytest.importorskip("trl")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "<eos>": 1, "<pad>": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<eos>", pad_token="<pad>")
    hf.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<eos>\n{% endfor %}"
                        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    return hf


def test_trl_reads_messages_as_conversations_with_every_turn(runs, tokenizer):
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    (_, rows), by_first = runs[0]["messages"], runs[1]
    for row in rows:
        assert is_conversational(row)
        text = maybe_apply_chat_template(row, tokenizer)["text"]
        first_user = next(m["content"] for m in row["messages"] if m["role"] == "user")
        system, rounds = by_first[first_user]
        assert text == "".join(f"<|{r}|>\n{c}<eos>\n" for r, c in turns_of(system, rounds))


def test_trl_reads_prompt_completion_as_trl_documents_it(runs, tokenizer):
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    (_, rows), by_first = runs[0]["prompt_completion"], runs[1]
    for row in rows:
        assert is_conversational(row) and row["completion"][0]["role"] == "assistant"
        applied = maybe_apply_chat_template(row, tokenizer)
        system, rounds = by_first[next(m["content"] for m in row["prompt"] if m["role"] == "user")]
        turns = turns_of(system, rounds)
        assert applied["prompt"] == "".join(f"<|{r}|>\n{c}<eos>\n" for r, c in turns[:-1]) + "<|assistant|>\n"
        assert applied["completion"] == f"{turns[-1][1]}<eos>\n"
    _, rows = runs[0]["prompt_completion text"]
    assert all(not is_conversational(r) and isinstance(r["prompt"], str) and isinstance(r["completion"], str)
               for r in rows)
    _, rows = runs[0]["text"]
    assert all(not is_conversational(r) and list(r) == ["text"] for r in rows)


def test_sft_trainer_prepares_each_trl_schema_and_not_alpaca(runs, tokenizer, tmp_path):
    """SFTTrainer's own dataset preparation (`_prepare_dataset`: the chat template, EOS, tokenization,
    labels) on the files loaded as a user loads them; the Alpaca file fails as the issue reported
    (KeyError: 'text'), which is what --output-format is for."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    params = list(inspect.signature(SFTTrainer._prepare_dataset).parameters)
    if params != ["self", "dataset", "processing_class", "args", "packing", "formatting_func", "dataset_name"]:
        pytest.skip(f"SFTTrainer._prepare_dataset changed its parameters: {params}")
    args = SFTConfig(output_dir=str(tmp_path / "sft"), report_to=[], use_cpu=True, bf16=False, max_length=None)
    # what the method reads from the trainer, as SFTTrainer.__init__ sets it for a tokenizer without a
    # training chat template
    trainer = types.SimpleNamespace(_tokenizer=tokenizer, chat_template=None, completion_only_loss=False)

    def prepare(name: str):
        ds = datasets.load_dataset("json", data_files=str(runs[0][name][0] / "selected.jsonl"), split="train",
                                   cache_dir=str(tmp_path / "cache"))
        return SFTTrainer._prepare_dataset(trainer, ds, tokenizer, args, False, None, "train")

    for name in ("messages", "prompt_completion", "prompt_completion text", "text", "text_label"):
        prepared = prepare(name)
        assert len(prepared) == N and {"input_ids", "labels"} <= set(prepared.column_names), name
    assert len(prepare("same")) == N  # an OpenAI pool's own rows are TRL's conversational format already
    with pytest.raises(KeyError, match="text"):
        prepare("alpaca same")


# --- LLaMA-Factory -----------------------------------------------------------------------------------------
# hiyouga/LLaMA-Factory src/llamafactory/data/parser.py: DatasetAttr (defaults), DatasetAttr.join (the keys of
# a dataset_info.json entry: formatting, columns, tags), get_dataset_list (file_name); converter.py:
# AlpacaDatasetConverter.__call__ and SharegptDatasetConverter.__call__ (what each row must hold).

LF_DEFAULTS = {"formatting": "alpaca", "prompt": "instruction", "query": "input", "response": "output",
               "history": None, "messages": "conversations", "system": None, "role_tag": "from",
               "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt", "observation_tag": "observation",
               "function_tag": "function_call", "system_tag": "system"}


def llama_factory_rows(dataset_dir: Path, name: str) -> list[tuple[str, list[tuple[str, str]]] | None]:
    """Each row as LLaMA-Factory aligns it: (system, [(role, content)...]), or None for a row it skips."""
    entry = json.loads((dataset_dir / "dataset_info.json").read_text())[name]
    attr = dict(LF_DEFAULTS, formatting=entry.get("formatting", "alpaca"))
    attr.update({k: v for k, v in entry.get("columns", {}).items() if k in LF_DEFAULTS})
    attr.update({k: v for k, v in entry.get("tags", {}).items() if k in LF_DEFAULTS})
    rows = [json.loads(line) for line in (dataset_dir / entry["file_name"]).read_text().splitlines()]
    return [(_lf_alpaca if attr["formatting"] == "alpaca" else _lf_sharegpt)(attr, row) for row in rows]


def _lf_alpaca(attr: dict, example: dict):
    prompt = []
    if attr["history"] and isinstance(example[attr["history"]], list):
        for old_prompt, old_response in example[attr["history"]]:
            prompt += [("user", old_prompt), ("assistant", old_response)]
    query = [example[attr[k]] for k in ("prompt", "query") if attr[k] and example[attr[k]]]
    prompt.append(("user", "\n".join(query)))
    response = [("assistant", example[attr["response"]])] if isinstance(example[attr["response"]], str) else []
    return (example[attr["system"]] if attr["system"] else ""), prompt + response


def _lf_sharegpt(attr: dict, example: dict):
    tags = {attr["user_tag"]: "user", attr["assistant_tag"]: "assistant", attr["observation_tag"]: "observation",
            attr["function_tag"]: "function", attr["system_tag"]: "system"}
    accept = ((attr["user_tag"], attr["observation_tag"]), (attr["assistant_tag"], attr["function_tag"]))
    messages = example[attr["messages"]]
    if attr["system_tag"] and messages and messages[0][attr["role_tag"]] == attr["system_tag"]:
        system, messages = messages[0][attr["content_tag"]], messages[1:]
    else:
        system = example[attr["system"]] if attr["system"] else ""
    aligned = []
    for i, message in enumerate(messages):
        if message[attr["role_tag"]] not in accept[i % 2]:
            return None  # "Invalid role tag": the example is skipped
        aligned.append((tags[message[attr["role_tag"]]], message[attr["content_tag"]]))
    return None if len(aligned) % 2 else (system, aligned)  # "Invalid message count"


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages"])
def test_llama_factory_reads_every_row_with_its_system_prompt_and_turns(runs, fmt):
    (folder, _), by_first = runs[0][fmt], runs[1]
    read = llama_factory_rows(folder, "selected")
    assert len(read) == N and None not in read
    for system, turns in read:
        want_system, rounds = by_first[turns[0][1]]
        assert (system, turns) == (want_system, turns_of("", rounds))


# --- axolotl -----------------------------------------------------------------------------------------------
# axolotl-ai-cloud/axolotl src/axolotl/prompt_tokenizers.py AlpacaPromptTokenizingStrategy.parse_instruction_fields
# (type: alpaca) and prompt_strategies/alpaca_w_system.py InstructionWSystemPromptTokenizingStrategy
# .parse_instruction_fields (which also reads prompt["system"], with no default); prompt_strategies/
# chat_template.py ChatTemplatePrompter (defaults: field_messages "messages", message_property_mappings
# role/content, roles human/user/assistant/gpt/system/tool) and ChatTemplateStrategy.get_conversation_thread /
# transform_message; prompt_strategies/completion.py (type: completion reads `text` by default).

AXOLOTL_ROLES = {"human": "user", "user": "user", "assistant": "assistant", "gpt": "assistant", "system": "system",
                 "tool": "tool"}


def axolotl_thread(row: dict, field_messages: str = "messages", mappings: dict | None = None) -> list[tuple]:
    mappings = mappings or {"role": "role", "content": "content"}
    thread = []
    for message in row[field_messages]:
        turn = {key: message[value] for key, value in mappings.items() if message.get(value) is not None}
        thread.append((AXOLOTL_ROLES.get(turn["role"], turn["role"]), turn["content"]))
    return thread


def test_axolotl_reads_each_schema_with_its_dataset_type(runs):
    (_, rows), by_first = runs[0]["messages"], runs[1]
    for row in rows:  # type: chat_template
        thread = axolotl_thread(row)
        system, rounds = by_first[next(c for r, c in thread if r == "user")]
        assert thread == turns_of(system, rounds)
    for row in runs[0]["sharegpt"][1]:  # type: chat_template, field_messages: conversations, from/value
        thread = axolotl_thread(row, "conversations", {"role": "from", "content": "value"})
        assert {r for r, _ in thread} <= {"user", "assistant"}
        assert thread == turns_of("", by_first[thread[0][1]][1])  # (the system column is LLaMA-Factory's)
    for row in runs[0]["alpaca"][1]:  # type: alpaca, and alpaca_w_system.load_instruct
        instruction, inp, output, system = row["instruction"], row.get("input", ""), row["output"], row["system"]
        assert all(isinstance(v, str) for v in (instruction, inp, output, system)) and output
    for row in runs[0]["text"][1] + runs[0]["text_label"][1]:  # type: completion
        assert isinstance(row["text"], str) and row["text"]
