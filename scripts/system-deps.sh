#!/usr/bin/env bash
# Installs the Debian packages the tests and the sandbox need, only when missing.
# npm: scripts/install-helm.sh takes Helm from an npm package. openssl: the sandbox's API server
# makes its TLS certificates with it (kubectl sends tokens only over https).
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's prometheus package starts a system service on :9090; the project starts its own on
# loopback ports of its choosing, so the system one is stopped to keep the machine quiet.
if [[ " ${need[*]} " == *" prometheus "* ]]; then
  (systemctl stop prometheus prometheus-node-exporter 2>/dev/null || service prometheus stop 2>/dev/null || true) >/dev/null 2>&1
fi
