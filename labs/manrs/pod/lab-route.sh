#!/bin/sh
# lab-route accepted|dropped PREFIX: for the lab's checks. Exit 0 when the
# customer sent PREFIX to this border (it is among what the session
# received) and the border accepted it (it is in the border's table), or
# dropped it (it is not); else exit 1. Says which, either way.
want=$1 p=$2
case $p in *:*) f=6 ;; *) f=4 ;; esac
{%- if nodes.border.kind == "bird" %}
# BIRD keeps what each session received in its import table.
received() { birdc show route import table "customer$f.ipv$f" "$p" | grep -q "^$p "; }
accepted() { birdc show route "$p" protocol "customer$f" | grep -q "^$p "; }
{%- else %}
if [ $f = 6 ]; then n={{ nodes.customer.interfaces.eth1.ipv6_address }}; else n={{ nodes.customer.interfaces.eth1.ipv4_address }}; fi
# FRR keeps what the customer sent (soft-reconfiguration inbound).
received() { vtysh -c "show bgp ipv$f unicast neighbors $n received-routes json" | grep -q "\"$p\""; }
accepted() { vtysh -c "show bgp ipv$f unicast $p json" | grep -q '"paths"'; }
{%- endif %}
if ! received; then
    echo "the customer does not send $p (is the session up?)"
    exit 1
fi
if accepted; then got=accepted; else got=dropped; fi
echo "$p from the customer: received and $got"
[ "$got" = "$want" ]
