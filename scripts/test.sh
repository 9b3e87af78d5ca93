#!/usr/bin/env bash
# Runs every test on a fresh machine: Docker engine and base image, lints,
# unit, golden, bad-input and end-to-end tests on the real engine, then the
# tests that restart the Docker daemon or load the machine (alone, one at a
# time, since they disturb every other container).
# Run as root from the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-engine.sh
# What the end-to-end tests use beside the engine: a participant's SSH
# client typing a password (sshpass), curl, script (util-linux), tshark
# (reads the pcaps `noglab capture` writes), and a participant's browser
# for the portal (Chromium, driven by chromedriver).
missing=()
for tool in sshpass ssh curl script tshark chromedriver; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    pkgs=()
    for tool in "${missing[@]}"; do
        case $tool in
            ssh) pkgs+=(openssh-client) ;;
            script) pkgs+=(util-linux) ;;
            chromedriver) pkgs+=(chromium chromium-driver) ;;
            *) pkgs+=("$tool") ;;
        esac
    done
    echo "test: installing ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null ||
        { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null; }
fi
bash scripts/setup-frontend.sh
cargo fmt --check
cargo clippy --locked --all-targets --quiet -- -D warnings
# Node images are built once here so the tests' own first build is a no-op.
cargo build --locked --quiet
./target/debug/noglab images build --quiet
cargo test --locked
cargo test --locked --test cli -- --ignored --test-threads=1
