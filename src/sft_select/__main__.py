from sft_select.cli import entry

entry()
