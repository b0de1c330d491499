# hashlib_nn: build the book, run the tests.
#
#   make book    venv + data, run every chapter with papermill (any failing cell fails make;
#                JOBS=N chapters at once, default: the number of cores),
#                then jupyter-book build -W book/  ->  _build/html/index.html
#   make test    venv + data + pytest
#   make bench   benchmarks: our pipeline vs the original's, ratios and goals
#   make lint    ruff
#   make clean   remove _build (keeps .venv and the data cache)
#
# The venv is built once (a stamp file records it; editing pyproject.toml rebuilds it). The CPU
# torch wheel is installed first: an unpinned torch would pull a 5.5 GB CUDA build. Override with
# e.g. `make book TORCH="torch==2.13.0 --index-url URL"`, or `TORCH=` to keep the torch you have.
# constraints.txt pins scikit-learn to the version of the shipped results (their fingerprint).

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin

# OpenMP threads sleep instead of spin-waiting between the many small ops of a paper-sized MLP:
# on 2 shared cores spinning made training 10-20x slower (measured); set before torch imports.
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY
STAMP  := $(VENV)/.hashlib_nn-installed

.PHONY: venv data test book html check lint bench clean publish

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(strip $(TORCH)),$(BIN)/python -m pip install $(TORCH))
	$(BIN)/python -m pip install -c constraints.txt -e ".[book,test]"
	touch $@

data: venv
	$(BIN)/python -m hashlib_nn.data fetch mnist fashion-mnist

test: venv data
	$(BIN)/python -m pytest

# Each chapter of _toc.yml runs at its default parameters (the gate); the executed notebooks go
# into the book's jupyter-cache, so the HTML build renders them without executing them again.
# JOBS chapters run at once (processes sharing the results store, ordered by the runs they
# share: the numbers are a serial build's); each with the same thread count whatever JOBS is.
JOBS ?= $(shell nproc)
book: venv data
	$(BIN)/python -m hashlib_nn.book run --jobs $(JOBS)
	$(BIN)/jupyter-book build -W book/

html: venv
	$(BIN)/jupyter-book build -W book/

# Opens every built page in headless Chromium with no network: charts drawn, math typeset.
check: venv
	$(BIN)/python tools/book_check.py

# Side-by-side speed and memory ratios against the original pipeline (benchmarks/README.md).
# Writes the committed figures; refuses when the load average is above 1.5 unless FORCE=1.
BENCH_JSON ?= benchmarks/results/cpu-2core.json
bench: venv data
	$(BIN)/python benchmarks/bench.py --json $(BENCH_JSON) $(if $(FORCE),--force)

lint: venv
	$(BIN)/ruff check src tests

# Publish the built HTML (make book first) to the gh-pages branch of REMOTE, for GitHub Pages
# or any static host: ghp-import commits _build/html there (with .nojekyll, so _static/ is
# served) and pushes it. CI does the same on every push to main (.github/workflows/book.yml).
REMOTE ?= origin
PUBLISH_BRANCH ?= gh-pages
publish: venv
	test -f _build/html/index.html || { echo "no _build/html/index.html: run make book first" >&2; exit 1; }
	$(BIN)/ghp-import --no-jekyll --push --force --remote $(REMOTE) --branch $(PUBLISH_BRANCH) \
		--message "Publish the book from $$(git rev-parse --short HEAD 2>/dev/null || echo a working tree)" \
		_build/html

clean:
	rm -rf _build
