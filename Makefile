# gannorm: `make demo` runs the embedded study, `make test` the test suite. Both start from a
# fresh clone: they create .venv, install the package and, as root, the Debian packages they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake

TEX_PACKAGES := latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
SLURM_PACKAGES := slurmctld slurmd slurm-client munge

.PHONY: demo test venv tex slurm smoke lint dry-run clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The editable install; re-run when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Debian packages: installed with apt-get when missing and running as root; otherwise say what to run.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing"; echo "install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

tex:
	$(call apt_install,$(TEX_PACKAGES))

slurm:
	$(call apt_install,$(SLURM_PACKAGES))

demo: venv tex
	source $(BIN)/activate && snakemake --cores $(CORES)
	@echo "report: results/demo/report.pdf"

smoke: venv tex
	source $(BIN)/activate && snakemake --cores $(CORES) --configfile configs/smoke.yaml

test: venv tex slurm
	source $(BIN)/activate && python -m pytest -ra

dry-run: venv
	source $(BIN)/activate && snakemake -n

lint: venv
	source $(BIN)/activate && snakemake --lint

clean:
	rm -rf results/smoke .snakemake
