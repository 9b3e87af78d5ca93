#!/bin/sh
# lab-ca CA: makes the pod's CA under Krill's testbed CA, publishing in
# Krill's own repository, with the lab's two ROAs. Does nothing when the CA
# exists already (exec lines run at every start of the node).
set -eu
ca=$1
if krillc list | grep -qx "$ca"; then
    echo "lab-ca: $ca exists"
    exit 0
fi
work=$(mktemp -d)
krillc add --ca "$ca"
krillc repo request --ca "$ca" >"$work/publisher-request.xml"
krillc pubserver publishers add --request "$work/publisher-request.xml" >"$work/repository-response.xml"
krillc repo configure --ca "$ca" --response "$work/repository-response.xml"
krillc parents request --ca "$ca" >"$work/child-request.xml"
krillc children add --ca testbed --child "$ca" --asn AS64501,AS64511 \
    --ipv4 192.0.2.0/24,198.51.100.0/24 --request "$work/child-request.xml" \
    >"$work/parent-response.xml"
krillc parents add --ca "$ca" --parent testbed --response "$work/parent-response.xml"
# The parent must have certified the CA's resources before it takes ROAs.
for i in $(seq 60); do
    if krillc roas update --ca "$ca" --add "192.0.2.0/24 => 64501" \
        --add "198.51.100.0/24 => 64511" 2>"$work/err"; then
        break
    fi
    [ "$i" -lt 60 ] || { cat "$work/err" >&2; exit 1; }
    sleep 1
done
rm -rf "$work"
echo "lab-ca: $ca made with its ROAs"
