# csi-companion: two commands on a fresh machine.
#   make test        installs .venv (CPU torch) and runs ruff, pytest and every notebook at smoke scale
#   make reproduce   regenerates every table and figure of the paper into figures/ (cpu scale)
# GPU users: make reproduce SCALE=paper DEVICE=cuda TORCH="torch==2.13.0 --index-url <your CUDA index>"

PYTHON ?= python3
VENV   ?= .venv
# The CPU wheel lies on disk here; a plain "torch" would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
SCALE  ?= cpu
DEVICE ?= auto
SEED   ?= 0
DATA   ?= synthetic
DATA_PATH ?=
DATASETS ?= our,kaggle,vision,daxing
OUT    ?= figures
NB     ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv test lint reproduce figure bench clean-data help

all: help

help:
	@echo "make test        - install .venv and run lint + unit tests + smoke notebooks"
	@echo "make reproduce   - run all notebooks (SCALE=$(SCALE), DEVICE=$(DEVICE)) into $(OUT)/"
	@echo "make figure NB=06 - rerun one notebook"
	@echo "make bench       - run the benchmark scripts"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (csi-companion)" >/dev/null
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

reproduce: venv
	$(BIN)/python -m csi.reproduce --scale $(SCALE) --device $(DEVICE) --seed $(SEED) \
		--data $(DATA) --data-path "$(DATA_PATH)" --datasets $(DATASETS) --out $(OUT)

figure: venv
	@test -n "$(NB)" || (echo "usage: make figure NB=06 [SCALE=cpu]"; exit 2)
	$(BIN)/python -m csi.reproduce --scale $(SCALE) --device $(DEVICE) --seed $(SEED) \
		--data $(DATA) --data-path "$(DATA_PATH)" --datasets $(DATASETS) --out $(OUT) --only $(NB)

bench: venv
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean-data:
	rm -rf data/synthetic data/cache runs
