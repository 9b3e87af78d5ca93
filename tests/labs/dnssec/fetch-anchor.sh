#!/bin/sh
# fetch-anchor ZONE SERVER: waits (up to 90 s) until SERVER serves ZONE
# signed, then prints its key-signing keys as Unbound `trust-anchor:` lines.
# The lab's stand-in for a DS in a parent zone.
zone=$1 server=$2
for i in $(seq 90); do
    if dig +norec +dnssec "@$server" "www.$zone" A | grep -q RRSIG; then
        keys=$(dig +norec "@$server" "$zone" DNSKEY +noall +answer |
            awk '$4 == "DNSKEY" && $5 == 257 { $1 = $1; print "trust-anchor: \"" $0 "\"" }')
        if [ -n "$keys" ]; then
            echo "$keys"
            exit 0
        fi
    fi
    sleep 1
done
echo "fetch-anchor: $server serves no signed $zone after 90 s" >&2
exit 1
