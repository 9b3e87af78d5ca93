#!/bin/sh
# The pod solved the way its guide does it, run on the border at each of
# its starts (the node's exec): step 4's route object replaced in the IRR
# through IRRd's submissions, step 1's filters built again from the IRR
# with bgpq4 and applied, step 2's source filtering. (Step 3 is in the
# router's configuration.)
set -eu
irr={{ vars.irr }}
password=$(cat /etc/irr/password)

# The IRR is a shared node: it may still be loading.
for _ in $(seq 90); do
    whois -h $irr AS-POD{{ pod }}-CUSTOMERS 2>/dev/null | grep -q '^members:' && break
    sleep 2
done

# Step 4: the route object with the customer's AS in, the stale one out.
submit() {
    out=$(curl -sS -X "$1" http://$irr:8080/v1/submit/ --data @-)
    echo "$out"
    echo "$out" | grep -qE '"failed": ?0' || echo "$out" | grep -q "no object found" || exit 1
}
submit POST <<JSON
{"objects": [{"object_text": "route: {{ vars.stale }}\ndescr: Pod {{ pod }}'s customer\norigin: AS{{ vars.customer_asn }}\nmnt-by: {{ vars.maintainer }}\nsource: LAB\n"}],
 "passwords": ["$password"]}
JSON
submit DELETE <<JSON
{"objects": [{"object_text": "route: {{ vars.stale }}\norigin: AS64510\nmnt-by: {{ vars.maintainer }}\nsource: LAB\n"}],
 "passwords": ["$password"], "delete_reason": "the customer has its own AS now"}
JSON

# Step 1: the filters, from the IRR. IRRd's answers follow a change
# within seconds, longer on a busy server: build them until they hold the
# route object just fixed (bgpq4 asks the same queries a participant's
# would), for two minutes at the most, and say so if they never do.
filters() {
{%- if nodes.border.kind == "bird" %}
    { printf 'define '; bgpq4 -h $irr -b -4 -l CUSTOMER4 AS-POD{{ pod }}-CUSTOMERS; } >/etc/bird/customer4.conf
    { printf 'define '; bgpq4 -h $irr -b -6 -l CUSTOMER6 AS-POD{{ pod }}-CUSTOMERS; } >/etc/bird/customer6.conf
    grep -qF '{{ vars.stale }}' /etc/bird/customer4.conf
{%- else %}
    bgpq4 -h $irr -4 -l CUSTOMER4 AS-POD{{ pod }}-CUSTOMERS >/tmp/customer4.conf
    bgpq4 -h $irr -6 -l CUSTOMER6 AS-POD{{ pod }}-CUSTOMERS >/tmp/customer6.conf
    grep -qF '{{ vars.stale }}' /tmp/customer4.conf
{%- endif %}
}
built=no
for _ in $(seq 60); do
    if filters; then built=yes; break; fi
    sleep 2
done
[ "$built" = yes ] || { echo "the IRR's answers still lack {{ vars.stale }} after 2 minutes" >&2; exit 1; }
{%- if nodes.border.kind == "bird" %}
cat /etc/bird/customer4.conf /etc/bird/customer6.conf
birdc configure
{%- else %}
cat /tmp/customer4.conf /tmp/customer6.conf
vtysh -f /tmp/customer4.conf
vtysh -f /tmp/customer6.conf
vtysh -c 'write memory'
{%- endif %}

# Step 2: strict uRPF on the customer's interface.
nft delete table inet bcp38 2>/dev/null || true
nft -f - <<'NFT'
table inet bcp38 {
    chain prerouting {
        type filter hook prerouting priority filter; policy accept;
        iifname "eth1" fib saddr . iif oif missing counter drop
    }
}
NFT
nft list table inet bcp38
