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
# further notebook parameters, e.g. PARAMS="--param crop=256"
PARAMS ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv test lint reproduce figure claim-check notebooks bench clean-data help book lab

all: help

help:
	@echo "make test        - install .venv and run lint + unit tests + smoke notebooks"
	@echo "make reproduce   - run all notebooks (SCALE=$(SCALE), DEVICE=$(DEVICE)) into $(OUT)/"
	@echo "make figure NB=06 - rerun one notebook"
	@echo "make claim-check - notebook 09 with its full grid (SCALE=paper DEVICE=cuda on a GPU)"
	@echo "make notebooks   - after editing a notebook: sync each .ipynb with its .py and strip outputs"
	@echo "make bench       - run the benchmark scripts"
	@echo "make book        - build the static book from figures/executed/ into _build/book/html/ (no re-run)"
	@echo "make lab         - open the notebooks in JupyterLab (LAB_ARGS=--no-browser ...)"

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
		--data $(DATA) --data-path "$(DATA_PATH)" --datasets $(DATASETS) --out $(OUT) $(PARAMS)

figure: venv
	@test -n "$(NB)" || (echo "usage: make figure NB=06 [SCALE=cpu]"; exit 2)
	$(BIN)/python -m csi.reproduce --scale $(SCALE) --device $(DEVICE) --seed $(SEED) \
		--data $(DATA) --data-path "$(DATA_PATH)" --datasets $(DATASETS) --out $(OUT) --only $(NB) $(PARAMS)

# the claim check's full grid (make reproduce runs a shorter one); its outputs replace figures/09_claim_check/
claim-check: venv
	$(BIN)/python -m csi.reproduce --scale $(SCALE) --device $(DEVICE) --seed $(SEED) --out $(OUT) --only 09 \
		--param grid=full $(PARAMS)

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

lab: venv
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (csi-companion)" >/dev/null
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)
