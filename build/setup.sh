#!/bin/sh
# One-time set-up on a fresh Debian machine: Debian packages the tests need (when run as root), then the npm
# dependencies. Electron's binary and onnxruntime's CUDA libraries are not downloaded (offline machines);
# `npm ci` then builds the project (prepare script).
set -e
cd "$(dirname "$0")/.."
# Debian packages: Chromium (and a CJK font) for the UI tests, PyTorch for the training pipeline (native-models/train) with
# OpenBLAS: Debian's torch links libblas.so.3, which is the reference BLAS (~9x slower) until
# libopenblas0-pthread takes over that alternative.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=""
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || missing="$missing python3-torch python3-numpy"
  dpkg -s libopenblas0-pthread >/dev/null 2>&1 || missing="$missing libopenblas0-pthread"
  # a CJK font, so the e2e screenshots of the Chinese interface show characters, not empty boxes
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$missing fonts-noto-cjk"
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  # WebGPU for the GPU suite on machines without a GPU: Mesa's software Vulkan driver (lavapipe) gives Dawn an adapter.
  # bookworm's Mesa 22.3 is refused by Dawn, so Mesa 25 comes from bookworm-backports (the same Debian mirror).
  if [ -f /etc/debian_version ] && ! dpkg-query -W -f '${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q '^2[5-9]'; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    if [ -n "$uri" ] && [ ! -f /etc/apt/sources.list.d/backports.sources ]; then
      printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$codename" >/etc/apt/sources.list.d/backports.sources
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t "$codename-backports" mesa-vulkan-drivers >/dev/null
  fi
fi
ELECTRON_SKIP_BINARY_DOWNLOAD=1 ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
