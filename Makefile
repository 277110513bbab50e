# Two commands: `make report` and `make test`. Everything else is set up on demand.
# Every target works from a fresh shell: recipes call .venv/bin/ by path and put it on PATH
# for the stage commands (papermill, python), so nothing depends on an activated venv.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
KERNEL := rehabkoord
STAMP := $(VENV)/.installed
RUN := PATH=$(CURDIR)/$(BIN):$$PATH
# `make report OFFLINE=1` installs from the wheels of an unpacked `make bundle` archive
OFFLINE ?=
WHEELS ?= wheels/linux-x86_64
PIP_SOURCE := $(if $(OFFLINE),--no-index --find-links $(WHEELS),)
STAGE ?=
BUNDLE_DIR ?= dist
# The studies: each has notebooks/<study>/ (notebooks, dvc.yaml, params.yaml) and writes its
# appendix to reports/<study>/. A new study registers by adding its name here.
STUDIES := uppsala caseload stockholm risk
# `make report STUDY=caseload` builds one study; `make stage STAGE=analyse` is the Uppsala study's
STUDY ?= $(STUDIES)
# Each study's appendix, reports/<study>/<name>.html (bilaga unless named here), and beside it
# its PDF and Word versions (`make pdf`, `make docx`), rebuilt whenever the HTML is newer.
APPENDIX_caseload := sammanstallning
appendix = reports/$(1)/$(or $(APPENDIX_$(1)),bilaga)
PDFS := $(foreach s,$(STUDY),$(call appendix,$(s)).pdf)
DOCXS := $(foreach s,$(STUDY),$(call appendix,$(s)).docx)
HAVE_CHROMIUM := command -v chromium || command -v chromium-browser || command -v google-chrome

.PHONY: setup report refresh-formats check-data stage strip lab test pdf docx verify reference bundle worker export

# The lock is installed by uv (parallel downloads and installs: seconds where pip takes
# minutes), itself installed by pip into .venv at the version requirements-uv.lock pins (the
# offline bundle holds its wheels). Where uv cannot be installed (no wheel for the platform, an
# older bundle), or with UV=0, pip installs the lock as before.
UV ?= 1
UV_PIN = $(shell grep -im1 '^uv==' requirements-uv.lock)
# the system's certificate store, as pip's (a proxy's own CA, as on corporate networks)
UV_SOURCE := $(if $(OFFLINE),--offline --no-index --find-links $(WHEELS),--system-certs)
PIP := $(BIN)/python -m pip --disable-pip-version-check
# `lock_install <requirements file>`: with uv when .venv has it, else with pip
# (uv compiles the bytecode as pip does: else every stage's first import compiles it)
lock_install = if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --python $(BIN)/python --compile-bytecode $(UV_SOURCE) -r $(1); \
	  else $(PIP) install --quiet --progress-bar off $(PIP_SOURCE) -r $(1); fi

$(STAMP): requirements.lock requirements-uv.lock pyproject.toml
	@if [ -n "$(OFFLINE)" ] && [ ! -d "$(WHEELS)" ]; then \
	  echo "OFFLINE=1: no wheels in $(WHEELS) (unpack the archive from \`make bundle\`)" >&2; exit 1; fi
	@echo "setup 1/3: Python environment $(VENV) ($$(date +%T))"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@if [ "$(UV)" != 0 ] && [ -n "$(UV_PIN)" ]; then \
	  $(PIP) install --quiet $(PIP_SOURCE) "$(UV_PIN)" || echo "uv could not be installed: pip installs the lock (slower)" >&2; \
	  else rm -f $(BIN)/uv; fi
	@echo "setup 2/3: the packages pinned in requirements.lock, with $$([ -x $(BIN)/uv ] && echo uv || echo 'pip (a few minutes)') ($$(date +%T))"
	@$(call lock_install,requirements.lock)
	@echo "setup 3/3: the compendium (editable), its Jupyter kernel and git hooks ($$(date +%T))"
	$(PIP) install --quiet $(PIP_SOURCE) --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (rehabkoord)"
	$(BIN)/python -c "from rehabkoord.determinism import write_kernel_env as w; w('$(VENV)/share/jupyter/kernels/$(KERNEL)')"
	test -d .git || git init -q
	$(BIN)/nbstripout --install --attributes .gitattributes 2>/dev/null || true
	touch $(STAMP)
	@echo "setup done ($$(date +%T)); the first \`make report\` now builds every study's data and appendix"

setup: $(STAMP)

# Spark for the parity test (tests/test_engines.py) only: a 450 MB source archive that the
# pipeline and the offline bundle do without, so pinned apart from requirements.lock.
SPARK_STAMP := $(VENV)/.installed-spark
$(SPARK_STAMP): requirements-spark.lock | $(STAMP)
	@$(call lock_install,requirements-spark.lock)
	touch $(SPARK_STAMP)

# Notebooks are stripped on disk before DVC hashes them, so dvc.lock matches the committed files.
strip: $(STAMP)
	$(BIN)/python -m rehabkoord.notebooks strip notebooks

# `dvc repro <target>` runs each study's report and what it depends on: the synthetic
# generator runs only when data.dir points at its output. Studies run one after another; when
# one fails, its own delivery check (and that of the studies it reads from, UPSTREAM_<study>)
# prints every problem last, or nothing when the deliveries fit and the failure is elsewhere.
UPSTREAM_risk := stockholm
report: strip
	$(foreach s,$(STUDY),$(RUN) $(BIN)/dvc repro notebooks/$(s)/dvc.yaml:report || { \
	  $(RUN) $(BIN)/python -m rehabkoord.clean $(foreach u,$(UPSTREAM_$(s)) $(s),--params notebooks/$(u)/params.yaml) >/dev/null; exit 1; };)
	@$(foreach s,$(STUDY),for f in reports/$(s)/*.html; do echo "Appendix ($(s)): $(CURDIR)/$$f"; done;)
	@$(MAKE) --no-print-directory refresh-formats

# A PDF or Word version older than its appendix is rebuilt (a PDF only where Chromium is
# installed, else named with the command that rebuilds it): none is left stale silently.
refresh-formats:
	@for f in $(wildcard $(DOCXS)); do \
	  $(MAKE) -q "$$f" 2>/dev/null || $(MAKE) --no-print-directory "$$f"; done
	@for f in $(wildcard $(PDFS)); do \
	  study=$${f#reports/}; study=$${study%%/*}; \
	  if $(MAKE) -q "$$f" 2>/dev/null; then :; \
	  elif { $(HAVE_CHROMIUM); } >/dev/null 2>&1; then $(MAKE) --no-print-directory "$$f"; \
	  else echo "Out of date: $$f is older than its appendix (\`make pdf STUDY=$$study\` rebuilds it with chromium)" >&2; fi; \
	done

# Check each study's delivery (STUDY=<study> for one) with every parameter that names data:
# prints every problem or the study's flow; writes nothing; exits non-zero when one does not fit.
check-data: $(STAMP)
	$(RUN) $(BIN)/python -m rehabkoord.clean $(foreach s,$(STUDY),--params notebooks/$(s)/params.yaml)

# One stage and whatever it needs: make stage STAGE=analyse (another study's: STUDY=caseload)
stage: strip
	@test -n "$(STAGE)" || { echo "usage: make stage STAGE=<name> [STUDY=<study>] (see notebooks/<study>/dvc.yaml)" >&2; exit 2; }
	$(RUN) $(BIN)/dvc repro notebooks/$(if $(filter command line,$(origin STUDY)),$(STUDY),uppsala)/dvc.yaml:$(STAGE)

# JupyterLab in an environment of its own (it is not in the pipeline's lock, see README), with
# the compendium's kernel; notebooks are saved without outputs (the browser still shows them).
LAB := .venv-lab/bin
$(LAB)/jupyter:
	$(PY) -m venv .venv-lab
	$(LAB)/python -m pip install --quiet --disable-pip-version-check jupyterlab==4.6.6 nbstripout==0.9.1

lab: $(STAMP) $(LAB)/jupyter
	JUPYTER_PATH=$(CURDIR)/$(VENV)/share/jupyter PYTHONPATH=$(CURDIR)/src \
	  $(LAB)/jupyter lab --ContentsManager.pre_save_hook=rehabkoord.notebooks.pre_save_hook

# A warm worker (Linux): while it runs, stage commands run in forks of it with the
# libraries already imported (rehabkoord.worker); Ctrl-C stops it. Windows, macOS: not used.
worker: $(STAMP)
	$(RUN) $(BIN)/python -m rehabkoord.worker

# `make pdf` / `make docx`: every study's appendix as PDF (printed by Debian's Chromium, which is
# installed with apt-get when missing) or Word (python-docx, nothing to install); STUDY=<study>
# for one. Each is rebuilt from its HTML whenever the HTML is newer.
pdf: report
	@{ $(HAVE_CHROMIUM); } >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }
	@$(MAKE) --no-print-directory $(PDFS)
	@$(foreach f,$(PDFS),echo "PDF: $(CURDIR)/$(f)";)

docx: report
	@$(MAKE) --no-print-directory $(DOCXS)
	@$(foreach f,$(DOCXS),echo "Word: $(CURDIR)/$(f)";)

reports/%.pdf: reports/%.html | $(STAMP)
	$(RUN) $(BIN)/python -m rehabkoord.render pdf $< $@

reports/%.docx: reports/%.html | $(STAMP)
	$(RUN) $(BIN)/python -m rehabkoord.word $< $@

# The appendix itself is DVC's output (`make report`): never made, nor deleted, by make.
.PRECIOUS: reports/%.html
reports/%.html:
	@echo "$@ is missing: \`make report\` writes it" >&2; exit 1

# What may leave SCB's environment: each study's reports/<study>/ checked (rehabkoord.export) and
# gathered with its output-check report in dist/export/<study>/ and dist/export/<study>.zip.
# A failing check writes nothing and exits non-zero.
export: report
	$(RUN) $(BIN)/python -m rehabkoord.export $(STUDY)

# OFFLINE=1 has no Spark wheels: the parity test then skips and says why. The tests run in
# TEST_WORKERS processes (pytest-xdist), each test file in one of them (its module fixtures
# built once), the longest files first (tests/conftest.py, LONGEST_FIRST); the executed
# pipelines they share are built once.
TEST_WORKERS ?= 2
test: $(STAMP) $(if $(OFFLINE),,$(SPARK_STAMP))
	$(RUN) $(BIN)/ruff check src tests benchmarks
	$(RUN) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

verify: $(STAMP)
	$(RUN) $(BIN)/python -m rehabkoord.verify

# After an intended change: make report && make reference, then commit notebooks/uppsala/reference/
reference: report
	$(RUN) $(BIN)/python -m rehabkoord.verify --refresh

# One archive for a machine without internet: the compendium and every pinned wheel for
# Linux and Windows x86-64, Python 3.11.
bundle: $(STAMP)
	$(RUN) $(BIN)/python -m rehabkoord.bundle $(BUNDLE_DIR)
