#!/bin/sh
# Puts the links' IPv6 addresses back when a link comes up again. Linux
# drops an interface's IPv6 addresses when it goes down, so after
# `noglab link ... down` and `up` the path would come back with IPv4 only
# (and its IPv6 BGP session, its IPv6 static routes, never). Looks once a
# second; does nothing while the addresses are there.
while sleep 1; do
{%- for name, i in interfaces %}{% if i.ipv6 is defined %}
    ip -6 addr show dev {{ name }} | grep -q ' {{ i.ipv6 }} ' ||
        ip -6 addr replace {{ i.ipv6 }} dev {{ name }}
{%- endif %}{% endfor %}
done
