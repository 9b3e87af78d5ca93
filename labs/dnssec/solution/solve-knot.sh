#!/bin/sh
# Pod {{ pod }} solved, on Knot, as a participant would type it: once knotd
# has signed {{ vars.zone }}, publish its DS in lab. (step 4), and roll the
# ZSK once (step 6). Run at each start of the node; safe to run again.
set -e
zone={{ vars.zone }}
tld={{ shared.nodes.tld.interfaces.eth1.ipv4_address }}

ds=
for i in $(seq 60); do
    ksk=$(keymgr $zone. list 2>/dev/null | awk '$3 == "KSK" { print $2; exit }')
    [ -n "$ksk" ] && ds=$(keymgr $zone. ds "$ksk" | grep " DS $ksk 13 2 ") && break
    sleep 1
done
[ -n "$ds" ] || { echo "$zone is not signed after 60 s" >&2; exit 1; }

for i in $(seq 20); do
    if {
        echo "server $tld"
        echo "zone lab."
        echo "del $zone. DS"
        echo "$ds" | sed 's/ DS / 60 DS /; s/^/add /'
        echo "send"
    } | knsupdate -t 5 -k /etc/knot/tsig.key; then
        break
    fi
    sleep 2
done
kdig +norec +short @$tld $zone DS | grep -q . || { echo "the TLD has no DS for $zone" >&2; exit 1; }
# Tell knotd the DS is published: the KSK's submission is over.
knotc zone-ksk-submitted $zone

# Step 6: roll the ZSK once. Knot pre-publishes the new one first.
if [ "$(keymgr $zone. list | grep -c ' ZSK ')" -lt 2 ]; then
    knotc zone-key-rollover $zone zsk
fi
