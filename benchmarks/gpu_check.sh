#!/usr/bin/env bash
# The device check for a lent GPU, in one short run (about 8 minutes on an H100/H200):
#  1. the CUDA tests (packed training, augmentation on the device);
#  2. training images/s of each paper architecture on synthetic CIFAR-size data, fp32 NCHW
#     against the engine's CUDA default (bf16 autocast, channels_last, cuDNN autotuning);
#  3. models per minute of the digits zoo for pack sizes and actors per GPU (Ray).
# The GPU machine ships its own CUDA torch: install the project beside it.
#   bash benchmarks/gpu_check.sh [SPEC]        (default: quick; the demo zoo is `default`)
set -euo pipefail
spec=${1:-quick}
python -m pip install -q --disable-pip-version-check -e ".[dev]" "torch>=2.2" 2>&1 | tail -2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -m pytest -q tests/test_pack_cuda.py tests/test_pack.py tests/test_augment.py
timeout 300 python benchmarks/arch_throughput.py --images 25000 --epochs 2 --batch 512
RAY_AUTH_MODE=disabled timeout 180 python benchmarks/ray_throughput.py "$spec" --actors-per-gpu 1 2 4 --pack 1 16 64
