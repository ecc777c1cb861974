#!/usr/bin/env bash
# The GPU suite in one command, on a machine with a CUDA GPU and this repository copied to it
# (it needs torch, torchvision, timm, transformers; ultralytics is not needed: no step uses it).
#
#   scripts/gpu_suite.sh              # rows under $OUT if set, else results/raw; summary on stdout
#   scripts/gpu_suite.sh --dry-run    # the plan only
#
# Optional: ZOO_GPU_EVAL_DATA=/path/to/imagenet_folder adds resnet50's eval pipeline with --decode gpu;
# ZOO_GPU_SUITE_BUDGET_S (default 540) caps the whole suite in seconds (steps get what is left).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export ZOO_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
export ZOO_RESULTS_DIR="${OUT:-$PWD/results/raw}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$ZOO_RESULTS_DIR"
# ImageNet-style photos for the classification eval pipeline (zoo eval resnet50 --decode gpu): copy
# ../shared/data/imagenet_sample_dev (22 MB) to .cache/ (git-ignored) to carry it to the GPU machine.
if [ -z "${ZOO_GPU_EVAL_DATA:-}" ] && [ -d .cache/imagenet_sample_dev ]; then
    export ZOO_GPU_EVAL_DATA="$PWD/.cache/imagenet_sample_dev"
fi
"$PYTHON" -m zoo bench --suite gpu --device cuda "$@"
