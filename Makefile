# vssl: `make demo` and `make test` work on a fresh machine (they install first).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= demo
JOBS ?= 2
METHOD ?= dsm
UCF101 ?=
SPLITS ?=
HMDB51 ?=
WORK ?= work

.PHONY: install test test-fast demo bench ucf101 hmdb51 clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q tests

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

demo: install
	bash examples/demo.sh $(DEMO)

bench: install
	$(BIN)/vssl bench extract
	$(BIN)/vssl bench precompute
	$(BIN)/vssl bench pretrain --method dsm --backbone tiny
	$(BIN)/vssl bench eval --backbone tiny

ucf101: install
	@test -n "$(UCF101)" || (echo "usage: make ucf101 UCF101=/path/to/videos SPLITS=/path/to/ucfTrainTestlist METHOD=dsm" && exit 2)
	bash examples/pipeline.sh ucf101 "$(UCF101)" "$(SPLITS)" "$(METHOD)" "$(WORK)"

hmdb51: install
	@test -n "$(HMDB51)" || (echo "usage: make hmdb51 HMDB51=/path/to/videos SPLITS=/path/to/testTrainMulti_7030_splits METHOD=dsm" && exit 2)
	bash examples/pipeline.sh hmdb51 "$(HMDB51)" "$(SPLITS)" "$(METHOD)" "$(WORK)"

clean:
	rm -rf $(DEMO) .pytest_cache
