#!/usr/bin/env bash
# The device check for a lent GPU, in one short run (see the README's "Every core, and packs"):
# the CUDA tests of packed training, then models per minute on one GPU for pack sizes and
# actors per GPU. The GPU machine ships its own CUDA torch: install the project beside it.
#   bash benchmarks/gpu_check.sh [SPEC]        (default: quick; the demo zoo is `default`)
set -euo pipefail
spec=${1:-quick}
python -m pip install -q --disable-pip-version-check -e ".[dev]" "torch>=2.2" 2>&1 | tail -2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -m pytest -q tests/test_pack_cuda.py tests/test_pack.py
RAY_AUTH_MODE=disabled python benchmarks/ray_throughput.py "$spec" --actors-per-gpu 1 2 4 --pack 1 16 64
