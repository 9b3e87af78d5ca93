#!/usr/bin/env bash
# Installs the portal's front-end packages (the browser terminal, xterm.js)
# from the npm registry, as package-lock.json pins them, into node_modules/,
# where the build embeds them into noglab. Installs npm first when missing.
# Run as root from the repository, before `cargo build`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing npm"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null ||
        { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
fi
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
