#!/usr/bin/env bash
# Installs the web app's npm packages (web/node_modules: Preact, htm,
# hls.js, esbuild) and the browser tests' (tests/browser/node_modules:
# playwright-core, which drives Debian's Chromium and downloads no browser)
# from their lock files, outside git. Idempotent: a second run does nothing
# while the installed packages match the lock files.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "setup-web: npm is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

# npm ci installs exactly what the lock file says. The lock file's hash is
# kept in node_modules after a successful install, so an unchanged lock
# file installs nothing.
install() {
  local dir=$1 want have=""
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [ -f "$dir/node_modules/.vigil-lock-sha256" ] && have=$(cat "$dir/node_modules/.vigil-lock-sha256")
  [ "$want" = "$have" ] && return 0
  echo "setup-web: installing $dir/node_modules"
  # esbuild's install script only checks its binary; the platform package
  # (@esbuild/linux-x64...) comes as an optional dependency either way.
  (cd "$dir" && npm ci --silent --no-audit --no-fund --ignore-scripts)
  echo "$want" > "$dir/node_modules/.vigil-lock-sha256"
}

install web
install tests/browser
