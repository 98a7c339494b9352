#!/usr/bin/env bash
# Installs what the suite needs on a fresh Debian machine with Node 20: system packages the real
# components need (socat for pseudo-terminal serial ports) and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(socat)
missing=()
for p in "${APT_PACKAGES[@]}"; do command -v "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      echo "setup: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1
    fi
  fi
  echo "setup: installing ${missing[*]} (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
