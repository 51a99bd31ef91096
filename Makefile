# The two commands of the README: `make reproduce` and `make test`.
# Both create .venv on first use and install the project with its pinned dependencies.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
LAB_OVERRIDES := jupyter-config/lab/settings/overrides.d/tsin-nb.json
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: install test lint fuzz reproduce smoke lab clean strip

install: $(STAMP)

$(STAMP): pyproject.toml $(LAB_OVERRIDES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (tsin-nb)" >/dev/null
	@# JupyterLab saves widget state with a notebook, so a reopened notebook shows its viewer, not "model not found"
	install -D -m 644 $(LAB_OVERRIDES) $(VENV)/share/jupyter/lab/settings/overrides.d/tsin-nb.json
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check tsin_nb tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

# the property tests of tests/test_fuzz.py with many more examples than `make test` runs
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_fuzz.py

# the default run also rewrites the README's results from the summary it wrote beside the figures
reproduce: $(STAMP)
	$(BIN)/tsin-nb reproduce $(if $(PARAMS),--params $(PARAMS)) $(if $(CORPUS),--corpus $(CORPUS))
	$(if $(PARAMS)$(CORPUS),,$(BIN)/tsin-nb report)

smoke: $(STAMP)
	$(BIN)/tsin-nb reproduce --params notebooks/smoke.yaml --build build/smoke

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

strip: $(STAMP)
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

clean:
	rm -rf build
