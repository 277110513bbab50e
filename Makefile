# Two commands: `make report` and `make test`. Everything else is set up on demand.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
KERNEL := rehabkoord
STAMP := $(VENV)/.installed

.PHONY: setup report check-data test pdf verify lint clean-outputs

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (rehabkoord)"
	test -d .git || git init -q
	$(BIN)/nbstripout --install --attributes .gitattributes 2>/dev/null || true
	touch $(STAMP)

setup: $(STAMP)

# `dvc repro report` runs the report and what it depends on: the synthetic generator runs only
# when data.dir points at its output. When a stage fails because the delivery does not fit the
# contract, the full list of problems is printed again as the last thing on the screen.
report: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro report || { \
	  PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m rehabkoord.clean >/dev/null; exit 1; }
	@echo "Appendix: $(CURDIR)/reports/bilaga.html"

# Check the delivery params.yaml points at, print every problem or the flow; writes nothing.
check-data: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m rehabkoord.clean

pdf: report
	command -v chromium >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m rehabkoord.render pdf reports/bilaga.html reports/bilaga.pdf
	@echo "PDF: $(CURDIR)/reports/bilaga.pdf"

test: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ruff check src tests benchmarks
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q

verify: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m rehabkoord.verify
