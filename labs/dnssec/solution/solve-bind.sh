#!/bin/sh
# Pod {{ pod }} solved, on BIND, as a participant would type it: once
# named has signed {{ vars.zone }}, publish its DS in lab. (step 4), and roll
# the ZSK once it is established (step 6). Run at each start of the node;
# safe to run again.
set -e
zone={{ vars.zone }}
tld={{ shared.nodes.tld.interfaces.eth1.ipv4_address }}

# Step 6: roll the ZSK once. BIND swaps at once a key that is not yet
# established (DNSKEY and signatures omnipresent), which breaks validation
# in resolvers that cached the old DNSKEY set; so wait for that first.
roll() {
    [ "$(grep -l 'zone-signing key' /var/cache/bind/K$zone.+*.key | wc -l)" -lt 2 ] || return 0
    for i in $(seq 180); do
        states=$(rndc dnssec -status $zone |
            awk '/^key:/ { zsk = /ZSK/ } zsk && /dnskey:|zone rrsig:/ { print $NF }' | sort -u)
        [ "$states" = omnipresent ] && break
        sleep 5
    done
    [ "$states" = omnipresent ] || { echo "the ZSK of $zone is not established after 15 minutes" >&2; return 1; }
    id=$(rndc dnssec -status $zone | awk '/^key:/ && /ZSK/ { print $2 }')
    rndc dnssec -rollover -key "$id" $zone
}
if [ "${1:-}" = roll ]; then
    roll
    exit
fi

ds=
for i in $(seq 60); do
    ds=$(dig +norec @127.0.0.1 $zone DNSKEY | dnssec-dsfromkey -2 -f - $zone 2>/dev/null) || ds=
    [ -n "$ds" ] && break
    sleep 1
done
[ -n "$ds" ] || { echo "$zone is not signed after 60 s" >&2; exit 1; }

# Step 4. The TLD may still be starting: try for a while.
for i in $(seq 20); do
    if {
        echo "server $tld"
        echo "zone lab."
        echo "update delete $zone. DS"
        echo "$ds" | sed 's/ IN DS / 60 IN DS /; s/^/update add /'
        echo "send"
    } | nsupdate -t 5 -k /etc/bind/tsig.key; then
        break
    fi
    sleep 2
done
dig +norec +short @$tld $zone DS | grep -q . || { echo "the TLD has no DS for $zone" >&2; exit 1; }
# Tell named the DS is published (it tracks the KSK's DS state).
ksk=$(echo "$ds" | awk '{ print $4 }')
rndc dnssec -checkds -key "$ksk" published $zone

# Step 6 takes minutes: in the background, with its own log.
setsid sh "$0" roll </dev/null >/var/log/lab-solve-roll.log 2>&1 &
