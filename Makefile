# crystalkit: the two commands the README promises, plus a few helpers.
#   make course   set up, then run every notebook headless (quick mode) into build/course/
#   make test     set up, then run the whole test suite (unit tests + every notebook in quick mode)
#   make test-fast  the unit tests alone (no notebook, browser or slow test): under a minute, for the edit-test loop
#   make notebooks  after editing a notebook or its source notebooks/py/NN_name.py: bring the other one up to date
#   make lab      JupyterLab on the notebooks

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.crystalkit-installed

.PHONY: setup course test test-fast notebooks lab lock check clean

setup: $(STAMP)

# The lock pins every package; torch==2.13.0 is the CPU build (a plain `torch` pulls several GB of CUDA).
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

course: setup
	$(BIN)/python -m crystalkit.course --out build/course

test: setup
	$(BIN)/python -m pytest -q -ra

test-fast: setup
	$(BIN)/python -m pytest -q -ra -n 2 -m "not notebook and not browser and not slow"

# Each notebooks/NN_name.ipynb is paired with notebooks/py/NN_name.py (notebooks/jupytext.toml): the newer of the
# two updates the other; then the notebooks are stored without outputs. tests/test_notebook_sources.py fails while
# a pair disagrees or a notebook holds outputs.
notebooks: setup
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.ipynb
	$(BIN)/jupyter nbconvert --clear-output --inplace --log-level=WARN notebooks/[0-9][0-9]_*.ipynb

lab: setup
	$(BIN)/jupyter lab notebooks

# Regenerate the lock from the current environment (after changing pyproject.toml).
lock:
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^pip==' | sed -e 's/^torch==\(.*\)+cpu$$/torch==\1/' > requirements.lock

check: setup
	$(BIN)/python -m pytest -q -x tests/test_packaging.py

clean:
	rm -rf build .pytest_cache
