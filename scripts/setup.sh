#!/usr/bin/env bash
# Installs what the suite needs on a fresh Debian machine with Node 20: system packages for the
# real components (socat: pseudo-terminal serial ports; swtpm + swtpm-tools: software TPM 2.0;
# tpm2-tools: TPM interop checks; chromium: the dashboard's browser test, driven by playwright-core,
# whose own browser download is not used; mosquitto: the MQTT broker tests, which start their own
# broker, so the package's system service is stopped and disabled) and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

# command:package pairs: install the package when the command is missing
NEEDS=(openssl:openssl socat:socat swtpm:swtpm swtpm_setup:swtpm-tools tpm2_checkquote:tpm2-tools chromium:chromium mosquitto:mosquitto)
# A network hiccup on a fresh machine is not a failure of the suite: try a download three times.
retry() {
  local n
  for n in 1 2 3; do
    "$@" && return 0
    [ "$n" = 3 ] || { echo "setup: '$*' failed (attempt $n of 3), retrying in $((n * 10)) s" >&2; sleep $((n * 10)); }
  done
  return 1
}
# Daemons such as mosquitto live in /usr/sbin, which is often not on a non-root user's PATH.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }
missing=()
for pair in "${NEEDS[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  have "$cmd" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      echo "setup: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1
    fi
  fi
  echo "setup: installing ${missing[*]} (apt)"
  retry $SUDO apt-get update -qq
  retry $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # The tests start their own mosquitto on free ports: the package's system service is not needed.
  if [[ " ${missing[*]} " == *" mosquitto "* ]] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  retry npm ci --no-audit --no-fund --loglevel=error
fi
# ava 7.0.0's TAP reporter crashes when its inactivity timeout fires; the guard lists the hung tests.
node scripts/patch-ava.mjs
