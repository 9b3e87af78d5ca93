#!/bin/bash
# krillc for this pod: runs Krill's command line client on the lab's Krill
# server, on this pod's CA (pod{{ pod }}), through the gate on port 3001
# of the Krill node. The gate knows this pod by this host's address on the
# RPKI network ({{ interfaces.eth2.ipv4_address }}) and acts on no other
# CA; the server's admin token never leaves the Krill node.
#   krillc show
#   krillc roas list
#   krillc roas update --add "{{ vars.prefix }} => {{ vars.asn }}"
set -u
gate=${KRILL_GATE:-{{ vars.krill }}}
for a in "$@"; do
    [ -n "$a" ] || { echo "krillc: empty argument" >&2; exit 2; }
done
if ! exec 3<>"/dev/tcp/$gate/3001"; then
    echo "krillc: cannot reach Krill's gate at $gate port 3001" >&2
    exit 1
fi
{ [ $# -eq 0 ] || printf '%s\0' "$@"; printf '\0'; } >&3
IFS= read -r rc <&3 || { echo "krillc: no answer from Krill's gate at $gate" >&2; exit 1; }
if [ "$rc" = 0 ]; then
    cat <&3
else
    cat <&3 >&2
fi
exec 3<&-
exit "$rc"
