#!/bin/sh
# One-time set-up on a fresh Debian machine: Debian packages the tests need (when run as root), then the npm
# dependencies. Electron's binary and onnxruntime's CUDA libraries are not downloaded (offline machines);
# `npm ci` then builds the project (prepare script).
set -e
cd "$(dirname "$0")/.."
# Debian packages: Chromium for the UI tests, PyTorch for the training pipeline (native-models/train) with
# OpenBLAS: Debian's torch links libblas.so.3, which is the reference BLAS (~9x slower) until
# libopenblas0-pthread takes over that alternative.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=""
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || missing="$missing python3-torch python3-numpy"
  dpkg -s libopenblas0-pthread >/dev/null 2>&1 || missing="$missing libopenblas0-pthread"
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi
ELECTRON_SKIP_BINARY_DOWNLOAD=1 ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
