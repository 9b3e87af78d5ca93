#!/bin/sh
# ds-check ZONE SERVER TLD: every DS record for ZONE that the TLD serves
# matches a key-signing key that SERVER publishes for ZONE (whatever its
# digest type), and there is at least one. The lab's check of step 5: a
# fixed chain leaves no wrong DS behind.
zone=$1 server=$2 tld=$3
# "tag alg type HEX", the digest in one piece and in capitals.
norm() {
    awk 'NF >= 4 { d = ""; for (i = 4; i <= NF; i++) d = d $i; print $1, $2, $3, toupper(d) }' | sort -u
}
have=$(dig +norec +short @"$tld" "$zone" DS | norm)
if [ -z "$have" ]; then
    echo "the TLD has no DS for $zone"
    exit 1
fi
want=$(dig +norec @"$server" "$zone" DNSKEY +noall +answer |
    dnssec-dsfromkey -a SHA-1 -a SHA-256 -a SHA-384 -f - "$zone" 2>/dev/null |
    awk '{ $1 = $2 = $3 = ""; print }' | norm)
echo "DS in the TLD:"
echo "$have"
wrong=$(echo "$have" | while read -r ds; do
    echo "$want" | grep -qxF "$ds" || echo "$ds"
done)
if [ -n "$wrong" ]; then
    echo "matching no KSK that $server publishes for $zone:"
    echo "$wrong"
    exit 1
fi
