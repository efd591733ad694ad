# Two commands on a fresh machine: `make demo` (set-up + the main job on ../shared/data) and `make test`.
# Both create .venv and install everything themselves; re-running them is safe (idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test test-slow lint install clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel on this machine's disk (an unpinned torch pulls a CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

test: install lint
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

lint: install
	$(VENV)/bin/ruff check rerankinject tests scripts

demo: install
	$(PY) scripts/demo.py

clean:
	rm -rf $(VENV) indexes/*/ runs/*.trec*
