#!/usr/bin/env bash
# `make bench-gpu`: every GPU figure in one run (about 8 minutes on an H100/H200).
# On the GPU machine (torch, no network, no PyAV): carry .whl/ (made by `make gpu-wheels`
# here) with the working tree; this installs it into /tmp/site and runs from the checkout.
#   OUT=dir BUDGET_S=480 scripts/bench_gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
# hdf5plugin's wheel is too large to carry: without it the caches made there use lzf
"$PY" -c "import hdf5plugin" 2>/dev/null || export VSSL_H5_COMPRESSION=lzf
export PYTHONUNBUFFERED=1
exec "$PY" -m vssl.cli.main bench gpu --out "${OUT:-bench-gpu}" --budget-s "${BUDGET_S:-480}" "$@"
