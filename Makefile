# Inception Lab: one command to run the course, one to test it. `make help` lists everything.
#
# Every target creates or updates the virtual environment .venv itself. The stamp file
# .venv/.stamp is newer than pyproject.toml once the install succeeded, so later calls skip it.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp
BUDGET ?= cpu
SEED ?=
NB ?=
EXP ?=
RECORD_TIMES ?=
LAB_ARGS ?=
PYTEST_ARGS ?=
SUBMISSIONS ?=
TIMEOUT ?=
SANITIZE := tests/nbval_sanitize.cfg
# Kernels started by papermill, nbval and JupyterLab find the venv's tools first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# ipykernel's debugger warns about frozen modules at every kernel start; it is harmless.
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help venv course experiments test test-fast test-robust smoke-gpu test-browser lab student grade execute check-notebooks lint format check clean distclean

help: ## Show this help
	@echo "Inception Lab: an interactive notebook course on the Inception family of CNNs"
	@echo
	@echo "  make course    run every lesson headless, write build/site/index.html (BUDGET=cpu|gpu)"
	@echo "  make test      unit tests + nbval validation of every notebook (one pytest run)"
	@echo "  make test-fast the quick unit tests (a bare pytest: no slow, notebook or browser test)"
	@echo "  make lab       start JupyterLab on the course"
	@echo
	@echo "All targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "Creating $(VENV) with $$($(PYTHON) --version)"; \
		$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv"; exit 1; }; }
	@echo "Installing the course and its dependencies into $(VENV) (the first time takes a few minutes: PyTorch is large)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)
	@echo "Environment ready: $(VENV) ($$($(PY) -c 'import torch; print("torch", torch.__version__)'))"

venv: $(STAMP) ## Create or update .venv (every other target does this when needed)

course: $(STAMP) ## Execute the notebooks into build/, render the HTML site (BUDGET=cpu|gpu, NB=..., RECORD_TIMES=1)
	$(PY) tools/course.py run --budget $(BUDGET) $(if $(SEED),--seed $(SEED)) $(if $(RECORD_TIMES),--record-times) $(NB)

# One thread per run: two runs side by side use 2 cores better than one run on both. Resumable.
experiments: $(STAMP) ## Compute the experiment ledger into experiments/results/ (EXP="name ...", slow)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m inception_lab.experiments run $(EXP) --budget $(BUDGET)

# The test tiers (pyproject.toml, [tool.pytest.ini_options]): a bare pytest runs tests/ without the
# browser and slow tests (-m "not browser and not slow"); `make test` adds the slow tests
# (-m "not browser") and the notebooks (nbval items, marked `notebook` by conftest.py);
# `make test-browser` selects the browser tests with -m browser.
test: $(STAMP) ## Unit tests + nbval (strict) over notebooks/, one pytest run (PYTEST_ARGS=...)
	$(PY) -m pytest tests notebooks --ignore=tests/browser -m "not browser" \
		--nbval --nbval-current-env --nbval-sanitize-with $(SANITIZE) $(PYTEST_ARGS)

test-fast: $(STAMP) ## The quick unit tests: no slow, notebook or browser test (a bare pytest)
	$(PY) -m pytest $(PYTEST_ARGS)

# The CPU variants of `make test-robust`: SIMD level (ATEN_CPU_CAPABILITY) and thread count. A
# stored output must hold under every one (notebooks/README.md, "Outputs that hold on any machine").
# avx512 is added where the CPU has it (torch falls back silently otherwise, which tests nothing).
ROBUST_VARIANTS ?= default:1 default:2 avx2:1 avx2:2 $(if $(shell grep -m1 -o avx512f /proc/cpuinfo 2>/dev/null),avx512:1 avx512:2)
test-robust: $(STAMP) ## nbval over notebooks/ under other CPU SIMD levels and thread counts (slow)
	@set -e; for variant in $(ROBUST_VARIANTS); do \
		cap=$${variant%%:*}; threads=$${variant##*:}; \
		echo "== ATEN_CPU_CAPABILITY=$$cap OMP_NUM_THREADS=$$threads"; \
		ATEN_CPU_CAPABILITY=$$cap OMP_NUM_THREADS=$$threads $(PY) -m pytest notebooks -p no:cacheprovider \
			--nbval --nbval-current-env --nbval-sanitize-with $(SANITIZE) -q $(PYTEST_ARGS); \
	done

smoke-gpu: $(STAMP) ## Every lesson at BUDGET=gpu with training cut to a few steps (any device)
	$(PY) tools/course.py run --budget gpu --smoke-steps 2 --build build/smoke \
		--cell-timeout 300 --fail-fast $(NB)

test-browser: $(STAMP) ## Run lesson 02 in JupyterLab in headless Chromium; screenshots in build/screenshots/
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Chromium is missing: /usr/bin/chromium not found."; \
		echo "Install it (as root, or with sudo):  apt-get update && apt-get install -y chromium"; \
		exit 1; \
	fi
	$(PY) -m pytest tests/browser -m browser -v -rA --durations=5 $(PYTEST_ARGS)

lab: $(STAMP) ## Start JupyterLab on the course, opening the welcome notebook (LAB_ARGS=...)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/00_welcome.ipynb

# The student edition and grading run nbgrader (tools/grade.py; docs/instructor_guide.md, "Grading
# with nbgrader") in the course folders build/nbgrader/ and build/grades/course/.
student: $(STAMP) ## Write the student edition with nbgrader (solutions replaced by stubs) in build/student/
	$(PY) tools/grade.py student --out build/student $(NB)

grade: $(STAMP) ## Autograde DIR/<learner>/*.ipynb into build/grades/: make grade SUBMISSIONS=DIR [TIMEOUT=s]
	@test -n "$(SUBMISSIONS)" || { echo "Usage: make grade SUBMISSIONS=DIR [TIMEOUT=seconds per cell]"; \
		echo "  DIR holds one folder per learner: DIR/<learner>/<notebook>.ipynb"; exit 2; }
	$(PY) tools/grade.py grade $(SUBMISSIONS) --out build/grades $(if $(TIMEOUT),--timeout $(TIMEOUT))

execute: $(STAMP) ## Execute notebooks in place for committing: make execute NB=notebooks/01_x.ipynb
	@test -n "$(NB)" || { echo "Usage: make execute NB=notebooks/<name>.ipynb [NB=...]"; exit 2; }
	$(PY) tools/course.py execute $(NB)

check-notebooks: $(STAMP) ## Check the notebook conventions of notebooks/README.md
	$(PY) tools/check_notebooks.py $(NB)

lint: $(STAMP) ## lint-imports (the layers of docs/architecture.md), ruff check, ruff format --check
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Format code and notebooks with ruff, fix what ruff can fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: lint test ## lint, then test

clean: ## Remove build outputs and caches (keeps .venv and data/)
	rm -rf build .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean ## Also remove .venv and generated data (keeps data/README.md)
	rm -rf $(VENV) *.egg-info
	find data -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
