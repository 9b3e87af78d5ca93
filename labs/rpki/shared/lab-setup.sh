#!/bin/bash
# lab-setup: makes the CA `upstream` under Krill's testbed CA, publishing in
# Krill's own repository, holding the prefixes of the test table the
# upstream router sends every pod, with the ROAs that make those routes
# valid or invalid (see upstream.frr.conf). The pods' CAs are made by the
# gate (krill-gate), the first time each pod's host uses it.
# Runs at every start of the node: what exists is left as it is.
set -euo pipefail
. /usr/local/sbin/lab-ca
make_ca upstream AS64500,AS64501,AS64502,AS64503 198.51.100.0/24,203.0.113.0/24,192.0.2.0/24
have=$(krillc roas list --ca upstream)
add=()
for roa in "198.51.100.0/24-24 => 64500" "203.0.113.0/24-25 => 64502"; do
    grep -qxF "$roa" <<<"$have" || add+=(--add "$roa")
done
if [ -n "${add[*]:-}" ]; then
    krillc roas update --ca upstream "${add[@]}"
    echo "lab-setup: ROAs of upstream:" "${add[@]}"
fi
