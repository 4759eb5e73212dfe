#!/bin/sh
# One-time set-up on a fresh Debian machine: Chromium for the UI tests (when run as root), then the npm
# dependencies. Electron's binary and onnxruntime's CUDA libraries are not downloaded (offline machines);
# `npm ci` then builds the project (prepare script).
set -e
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
ELECTRON_SKIP_BINARY_DOWNLOAD=1 ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
