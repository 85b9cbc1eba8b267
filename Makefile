# csi-companion: two commands on a fresh machine.
#   make test        installs .venv (CPU torch) and runs ruff, pytest and every notebook at smoke scale
#   make reproduce   regenerates every table and figure of the paper into figures/ (cpu scale)
# GPU users: make reproduce SCALE=paper DEVICE=cuda TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# Where runs write (OUT): only make reproduce with every setting at its default writes the committed figures/;
# any other run (another DATA/SCALE/SEED/DATASETS/PARAMS, make figure, make claim-check) writes the gitignored
# runs/<DATA>-<SCALE>/. OUT=figures updates the reference on purpose; OUT=any/folder writes there.

PYTHON ?= python3
VENV   ?= .venv
# The pip arguments that install torch. On this machine the CPU wheel lies in pip's cache; elsewhere a plain
# "torch==2.13.0" pulls PyPI's multi-GB CUDA build on most Linux machines. CPU only:
#   TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
# Changing TORCH reinstalls torch into .venv (the stamp $(VENV)/.torch records it).
TORCH  ?= torch==2.13.0
SCALE  ?= cpu
DEVICE ?= auto
SEED   ?= 0
DATA   ?= synthetic
DATA_PATH ?=
DATASETS ?= our,kaggle,vision,daxing
# empty: figures/ for the reference run, runs/<DATA>-<SCALE>/ for any other (csi.reproduce.default_out)
OUT    ?=
# notebook 09's grid in make claim-check: full (CSI-CNN up to 128,000 pairs at cpu scale, DnCNN-17 at two budgets,
# augmentation, target ablation) or medium (make reproduce's short grid with CSI-CNN up to 32,000 pairs)
GRID   ?= full
NB     ?=
# further notebook parameters, e.g. PARAMS="--param crop=256"
PARAMS ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.torch
OUT_ARG = $(if $(strip $(OUT)),--out $(OUT))

.PHONY: FORCE all venv test lint reproduce figure claim-check notebooks bench clean-data help book lab

all: help

help:
	@echo "make test        - install .venv and run lint + unit tests + smoke notebooks"
	@echo "make reproduce   - run all notebooks (SCALE=$(SCALE), DEVICE=$(DEVICE), DATA=$(DATA))"
	@echo "make figure NB=06 - rerun one notebook"
	@echo "make claim-check - notebook 09 with its full grid (GRID=medium: up to 32,000 pairs; SCALE=paper DEVICE=cuda on a GPU)"
	@echo "  OUT: where these three write. Unset: the committed figures/ only for make reproduce with every"
	@echo "       setting at its default (DATA=synthetic SCALE=cpu SEED=0, no PARAMS); any other run writes"
	@echo "       the gitignored runs/<DATA>-<SCALE>/. OUT=figures updates the reference on purpose."
	@echo "       A notebook run in JupyterLab or by papermill writes to runs/<source>-<scale>/ (its out_dir"
	@echo "       parameter, \"auto\"); the workshop to runs/workshop/."
	@echo "  TORCH: pip arguments for torch; changing it reinstalls torch, e.g."
	@echo "       TORCH=\"torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128\" (CUDA 12.8)"
	@echo "make notebooks   - after editing a notebook: sync each .ipynb with its .py and strip outputs"
	@echo "make bench       - run the benchmark scripts"
	@echo "make book        - build the static book from figures/executed/ into _build/book/html/ (no re-run)"
	@echo "make lab         - open the notebooks in JupyterLab (LAB_ARGS=--no-browser ...)"

venv: $(STAMP)

# $(TORCH_STAMP) holds the TORCH value torch was installed with; it is rewritten (and torch reinstalled) only
# when TORCH changes, so a GPU user's TORCH=... cu128 replaces the CPU build of an existing .venv.
$(TORCH_STAMP): FORCE
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ "$$(cat $@ 2>/dev/null)" != "$(TORCH)" ]; then \
		echo "installing $(TORCH)"; \
		$(BIN)/python -m pip install --quiet --force-reinstall --no-deps $(TORCH) && \
		$(BIN)/python -m pip install --quiet $(TORCH) && \
		echo "$(TORCH)" > $@; \
	fi

$(STAMP): pyproject.toml $(TORCH_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (csi-companion)" >/dev/null
	touch $(STAMP)

FORCE:

lint: venv
	$(BIN)/ruff check .

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

reproduce: venv
	$(BIN)/python -m csi.reproduce --scale $(SCALE) --device $(DEVICE) --seed $(SEED) \
		--data $(DATA) --data-path "$(DATA_PATH)" --datasets $(DATASETS) $(OUT_ARG) $(PARAMS)

figure: venv
	@test -n "$(NB)" || (echo "usage: make figure NB=06 [SCALE=cpu]"; exit 2)
	$(BIN)/python -m csi.reproduce --scale $(SCALE) --device $(DEVICE) --seed $(SEED) \
		--data $(DATA) --data-path "$(DATA_PATH)" --datasets $(DATASETS) $(OUT_ARG) --only $(NB) $(PARAMS)

# the claim check's full grid (make reproduce runs a shorter one) into runs/synthetic-<SCALE>/09_claim_check/
# (OUT=figures: replace the reference figures/09_claim_check/)
claim-check: venv
	$(BIN)/python -m csi.reproduce --scale $(SCALE) --device $(DEVICE) --seed $(SEED) $(OUT_ARG) --only 09 \
		--param grid=$(GRID) $(PARAMS)

# after editing a notebook (either the .ipynb in JupyterLab or its paired .py): sync the pair, strip outputs
notebooks: venv
	cd notebooks && ../$(BIN)/jupytext --sync *.py
	$(BIN)/nbstripout notebooks/*.ipynb

bench: venv
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean-data:
	rm -rf data/synthetic data/cache runs

# ---- read it in a browser, work on it in JupyterLab -----------------------------------------------------------
# make book: the executed notebooks (default: the committed figures/executed/) rendered with their stored outputs
# into a static site, $(BOOK_OUT)/html/index.html; nothing is executed. See book/conf.py and tools/build_book.py.
BOOK_EXECUTED ?= figures/executed
BOOK_OUT ?= _build/book
BOOK_ARGS ?=
# make lab: extra options for JupyterLab, e.g. LAB_ARGS="--no-browser --port 8890" (as root, --allow-root is added)
LAB_ARGS ?=

book: venv
	$(BIN)/python tools/build_book.py --executed $(BOOK_EXECUTED) --out $(BOOK_OUT) $(BOOK_ARGS)
	@echo "open $(BOOK_OUT)/html/index.html in a browser (screenshots: $(BIN)/python tools/screenshots.py)"

# JupyterLab's file browser lists each notebook once: the paired review scripts (NN_*.py, workshop.py) and the
# encoded workshop solutions are hidden there (they stay in git and in any editor)
LAB_HIDE = ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "[0-9][0-9]_*.py", "workshop.py", "*.b64"]

lab: venv
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (csi-companion)" >/dev/null
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) --ContentsManager.hide_globs='$(LAB_HIDE)' $(LAB_ARGS)
