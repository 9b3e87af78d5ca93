#!/bin/sh
# The customer's host is infected: all the time it sends pings to
# 198.51.100.1, beyond the upstream, from its own address and from a
# forged one, {{ vars.spoofed }} (someone else's). An ISP that filters its
# customers' source addresses (BCP 38) lets the first through and drops
# the second at its border. See them there: tcpdump -n -i eth1 icmp
while :; do
    ping -c 1 -W 1 -I {{ nodes.host.interfaces.eth1.ipv4_address }} 198.51.100.1 >/dev/null 2>&1
    ping -c 1 -W 1 -I {{ vars.spoofed }} 198.51.100.1 >/dev/null 2>&1
    sleep 0.5
done
