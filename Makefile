# Two entry points for a fresh machine with only python3: `make drive` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: drive test lint test-graph selftest bench soak clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

drive: $(STAMP)
	$(BIN)/vehicle-runtime drive

selftest: $(STAMP)
	$(BIN)/vehicle-runtime selftest

# lint, format and types first (seconds), then the suite with line coverage; tools/coverage_rooms.py prints it
# per room and fails when safety or CAN is under 95 %. Tracing costs time (tests/safety: 58 s -> 92 s on the
# 2-core VM); `make test COVERAGE=0` runs the suite without it.
COVERAGE ?= 1
test: $(STAMP) lint
	$(BIN)/python -m pytest -q $(if $(filter 1,$(COVERAGE)),--cov --cov-report=)
	$(if $(filter 1,$(COVERAGE)),$(BIN)/python tools/coverage_rooms.py)

# the same checks as .pre-commit-config.yaml; mypy checks the whole tree, strictly safety, can, control and
# transport/cdr.py (both lists in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# the node graph across processes in real time (also part of `make test`)
test-graph: $(STAMP)
	$(BIN)/python -m pytest -q -m graph tests/ros/test_graph.py

# memory, fds and /dev/shm over a long drive with simulator restarts (10 min; 60 for a release: MINUTES=60)
soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes $(or $(MINUTES),10)

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) build *.egg-info
