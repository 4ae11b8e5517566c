# text2sql-from-scratch: one command per job. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export T2SQL_PRESET ?= tiny

.PHONY: help venv test test-numerics test-fast demo weights export notebooks figures lint format clean

help:
	@echo "make test       create .venv if missing, install, run unit + sync + notebook tests"
	@echo "make demo       train and evaluate a text-to-SQL model end to end on the CPU"
	@echo "make weights    retrain the reference weights under weights/demo (the demo, default seed)"
	@echo "make export     regenerate t2sql_lib/ modules from the chapter notebooks"
	@echo "make notebooks  re-execute every chapter notebook in place, at the course size"
	@echo "make figures    redraw the course diagrams under figures/"
	@echo "make test-numerics  the same tests with another CPU's numerics (1 thread, AVX2 kernels)"
	@echo "make test-fast  unit tests only (no notebooks)"
	@echo "make lint       ruff over the library, tests, benchmarks and notebooks"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first, so that the project's `torch>=` does not pull CUDA wheels.
	$(PY) -m pip install -q torch==2.13.0 || $(PY) -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
	$(PY) -m pip install -q -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# One thread and AVX2-only matrix kernels: the rounding of another CPU (see conftest.py); must pass like `test`.
test-numerics: $(STAMP)
	T2SQL_NUMERICS=other $(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest tests -x -q

demo: $(STAMP)
	$(VENV)/bin/t2sql demo

# The reference weights (weights/README.md): the demo preset, default seed, its model folder copied
weights: $(STAMP)
	$(VENV)/bin/t2sql demo --out outputs/reference
	cp outputs/reference/model.safetensors outputs/reference/tokenizer.json outputs/reference/config.json weights/demo/

export: $(STAMP)
	$(PY) -m t2sql_lib.nbexport

# Each notebook at the course size, as a learner runs it ($T2SQL_PRESET unset); chapter 8, which sizes itself from
# the hardware, at tiny: the size whose outputs it stores.
notebooks: $(STAMP)
	for nb in chapters/[0-9]*.ipynb chapters/solutions/*.ipynb; do \
	  [ -e "$$nb" ] || continue; \
	  case "$$nb" in *08_gpu_training*) size=T2SQL_PRESET=tiny ;; *) size= ;; esac; \
	  env -u T2SQL_PRESET $$size $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=python3 "$$nb" || exit 1; \
	done
	$(PY) -m t2sql_lib.nbexport

figures: $(STAMP)
	for f in figures/draw_*.py; do $(PY) "$$f" || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
