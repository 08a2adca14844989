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

.PHONY: install test test-fast demo bench bench-gpu gpu-wheels configs ucf101 hmdb51 clean

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

# examples/configs/<method>.yaml from the resolved defaults (headers kept); tests/train/test_example_configs.py checks them.
configs: install
	$(BIN)/python -m vssl.train.examples examples/configs

# On the GPU machine (no venv, no network): see scripts/bench_gpu.sh and README "GPU figures".
bench-gpu:
	scripts/bench_gpu.sh

# Here, before a GPU run: the wheels the GPU machine lacks (PyAV for its Python 3.12), into .whl/.
gpu-wheels: install
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl "av==$$($(BIN)/python -c 'import av; print(av.__version__)')"
	@du -sh .whl

ucf101: install
	@test -n "$(UCF101)" || (echo "usage: make ucf101 UCF101=/path/to/videos SPLITS=/path/to/ucfTrainTestlist METHOD=dsm" && exit 2)
	bash examples/pipeline.sh ucf101 "$(UCF101)" "$(SPLITS)" "$(METHOD)" "$(WORK)"

hmdb51: install
	@test -n "$(HMDB51)" || (echo "usage: make hmdb51 HMDB51=/path/to/videos SPLITS=/path/to/testTrainMulti_7030_splits METHOD=dsm" && exit 2)
	bash examples/pipeline.sh hmdb51 "$(HMDB51)" "$(SPLITS)" "$(METHOD)" "$(WORK)"

clean:
	rm -rf $(DEMO) .pytest_cache
