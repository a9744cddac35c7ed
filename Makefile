# The two commands a new machine needs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: test lint demo demo-quick demo-ddp bench bench-quick gallery clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[test,demo]" "$(TORCH)"
	$(PY) -c "import rampup, torch, transformers, matplotlib, pytest"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples docs
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest

demo: $(STAMP)
	$(VENV)/bin/rampup compare linear cosine warmup_cosine:min_lr_ratio=0.1 wsd inverse_sqrt \
		--total 10000 --warmup 500 -o runs/demo/schedules.png
	$(VENV)/bin/rampup demo --out runs/demo

demo-quick: $(STAMP)
	$(VENV)/bin/rampup demo --quick --out runs/demo-quick

.PHONY: demo-adaptive
# Adaptive warmup against fixed warmups (not part of `make demo`; about 30 minutes on 2 cores with
# one torch thread: the models are small, and a second thread fighting other jobs slows it badly).
demo-adaptive: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/rampup demo --experiment adaptive --out runs/adaptive

.PHONY: demo-probe-scale
# Where the best peak rate lies relative to find_lr's suggestion, on three model/optimizer pairs
# (backs the probe guide; about 15 minutes on 2 cores, two worker processes).
demo-probe-scale: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m rampup.demo.probe_scale runs/probe-scale

demo-ddp: $(STAMP)
	$(VENV)/bin/torchrun --standalone --nproc_per_node 2 -m rampup demo --seeds 1 --out runs/demo-ddp

gallery: $(STAMP)
	$(PY) docs/make_gallery.py

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(PIP) install -q -e ".[bench]" "$(TORCH)"
	# timm's package imports torchvision; its scheduler modules do not, and that is all we load.
	$(PIP) install -q --no-deps "timm==1.0.31"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) benchmarks/bench.py

bench-quick: $(BENCH_STAMP)
	$(PY) benchmarks/bench.py --quick

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache site docs/generated docs/index.md

# The property tests (tests/**/test_fuzz_*.py) with many random examples (hypothesis' "fuzz"
# profile, see tests/conftest.py); failing examples are kept in .hypothesis/ and replayed first.
.PHONY: fuzz
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q $$(find tests -name 'test_fuzz_*.py' | sort)

# The package as users install it: sdist + wheel, twine check, fresh venvs without extras (this
# Python, and 3.10 / 3.13 where installed) and with [torch]. Needs PyPI or a pip cache.
.PHONY: wheel-check
wheel-check: $(STAMP)
	PY=$(PY) TORCH="$(TORCH)" .ci/wheel-check

# The documentation site: the generated pages (docs/gen_pages.py: README as the home page, the
# command line reference, the benchmarks, the gallery), `mkdocs build --strict` into site/, then
# every link and image of the built site checked (docs/check_site.py, no browser needed).
.PHONY: docs docs-check
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP)
	$(PIP) install -q -e ".[docs]" "$(TORCH)"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) docs/gen_pages.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
	$(PY) docs/check_site.py site

# Every page of the built site opened in headless Chromium (skipped, with a message, when no
# Chromium is installed): images shown, layout applied; screenshots in runs/site-screenshots/.
docs-check: docs
	$(PY) docs/screenshots.py --site site --out runs/site-screenshots
