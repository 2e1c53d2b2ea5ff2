# The two set-up commands of the README: `make run` (install and start the server) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make install`: a copy of CC Executor of its own (not this checkout), with the command linked onto PATH.
INSTALL_DIR ?= $(HOME)/.local/share/cc-executor/venv
BINDIR ?= $(HOME)/.local/bin

.PHONY: run start stop install uninstall test lint bench bench-quick clean

$(BIN)/python:
	@echo "make: creating the virtual environment $(VENV) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "make: installing CC Executor and its dependencies into $(VENV) (about a minute on first run) ..."
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	@echo "make: installing CC Executor with its dev dependencies into $(VENV) ..."
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# In the foreground (Ctrl-C stops it); `make start` runs it in the background instead.
run: $(VENV)/.installed
	@echo "make: starting the server in the foreground (Ctrl-C stops it; 'make start' runs it in the background)"
	$(BIN)/cc-executor serve $(ARGS)

start: $(VENV)/.installed
	$(BIN)/cc-executor serve --daemon $(ARGS)

stop: $(VENV)/.installed
	$(BIN)/cc-executor stop

install:
	@echo "make: installing CC Executor into $(INSTALL_DIR) ..."
	$(PYTHON) -m venv --clear $(INSTALL_DIR)
	$(INSTALL_DIR)/bin/python -m pip install --quiet --upgrade pip
	$(INSTALL_DIR)/bin/python -m pip install --quiet .
	mkdir -p $(BINDIR)
	ln -sf $(INSTALL_DIR)/bin/cc-executor $(BINDIR)/cc-executor
	@echo "make: installed $(BINDIR)/cc-executor ($$($(BINDIR)/cc-executor --version))"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "make: $(BINDIR) is not on your PATH; add it: export PATH=\"$(BINDIR):\$$PATH\"";; esac

uninstall:
	rm -f $(BINDIR)/cc-executor
	rm -rf $(INSTALL_DIR)

# The load tests (marker "load") saturate both cores for about a minute: run after the rest, alone, so that
# neither they nor the tests beside them measure the other.
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)
	@if [ -z "$(PYTEST_ARGS)" ]; then $(BIN)/python -m pytest -q -n 0 -m load; fi

# Lint and type gates (configured in pyproject.toml); CI runs them before the tests.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(VENV)/.dev-installed
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
