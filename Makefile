# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch's index, e.g. https://download.pytorch.org/whl/cpu for its CPU build (constraints.txt);
# empty: pip's own index, which on Linux x86_64 PyPI serves the CUDA build from
TORCH_INDEX ?=

.PHONY: demo test setup clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/pip install --quiet -c constraints.txt --index-url $(TORCH_INDEX) torch)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)  # the default matrix with live progress, then its comparison table; rerunning resumes
	$(BIN)/optsuite run default -j 2 --out results/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
