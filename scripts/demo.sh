#!/usr/bin/env bash
# Brings up the example lab on a fresh machine: Docker engine, base image,
# noglab, node images, then two pods of examples/two-routers and their status.
# Run as root from the repository. Remove the lab afterwards with:
#   ./target/release/noglab down tworouters
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-engine.sh
bash scripts/setup-frontend.sh
echo "demo: building noglab (a few minutes the first time)"
cargo build --release --locked --quiet
noglab=./target/release/noglab
$noglab images build
$noglab up examples/two-routers --pods 2
echo "demo: waiting for BGP in both pods"
for pod in 1 2; do
    for _ in $(seq 60); do
        if $noglab exec tworouters --pod "$pod" r1 -- vtysh -c 'show bgp summary' 2>/dev/null | grep -q 'r2 (pod'; then
            $noglab exec tworouters --pod "$pod" h1 -- ping -c 1 -W 2 "100.66.$pod.1" >/dev/null && break
        fi
        sleep 1
    done
done
$noglab status
$noglab exec tworouters --pod 1 r1 -- vtysh -c 'show bgp summary'
echo
echo "demo: try  $noglab connect tworouters --pod 1 r1   (vtysh; 'exit' to leave)"
echo "demo: stop $noglab down tworouters"
