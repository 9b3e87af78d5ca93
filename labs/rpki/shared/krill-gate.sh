#!/bin/bash
# krill-gate: runs one krillc command for a pod's host, on that pod's CA
# only. Krill 0.16's krillc knows a single token, the admin token, which
# may do anything (delete the testbed CA, every pod's CA...): it stays in
# this node. socat runs this script for each connection to port 3001.
#
# A connection from {{ vars.hosts }}.N (pod N's host on the RPKI network)
# acts on CA podN, which the gate makes the first time, with the pod's
# resources: AS{{ vars.asn_base }}+N and {{ vars.prefixes }}.N.0/24 (the
# lab's `asn` and `prefix`). The arguments come NUL-terminated, an empty
# one ends them; the answer is a line with krillc's exit code, then its
# output.
#
# Allowed: what reads or changes the pod's own CA's objects (show, issues,
# history, roas, aspas, bgpsec list, parents statuses, repo status).
# Refused: any other CA, and whatever reaches other CAs, the publication
# server, files in this node or another server.
hosts="{{ vars.hosts }}"
asn_base={{ vars.asn_base }}
prefixes="{{ vars.prefixes }}"
{% raw -%}
set -u
refuse() {
    printf '2\nkrillc (lab gate): %s\n' "$*"
    exit 0
}
args=()
while IFS= read -r -d '' -t 10 a; do
    [ -n "$a" ] || break
    args+=("$a")
    [ "${#args[@]}" -le 64 ] || refuse "too many arguments"
done

peer=${SOCAT_PEERADDR:-}
if [[ $peer == "$hosts".* && ${peer##*.} =~ ^[1-9][0-9]*$ ]]; then
    pod=${peer##*.}
else
    refuse "$peer is not a pod's host"
fi
ca=pod$pod
exec 9>"/run/krill-gate.$ca.lock"
flock 9
# shellcheck source=lab-ca.sh
. /usr/local/sbin/lab-ca
make_ca "$ca" "AS$((asn_base + pod))" "$prefixes.$pod.0/24" 2>/dev/null \
    || refuse "cannot make CA $ca now; try again in a minute"
flock -u 9

# Global options may come first; the command must follow them.
pre=()
while [ "${#args[@]}" -gt 0 ]; do
    case "${args[0]}" in
        -f|--format) pre+=("${args[@]:0:2}"); args=("${args[@]:2}") ;;
        -f?*|--format=*) pre+=("${args[0]}"); args=("${args[@]:1}") ;;
        *) break ;;
    esac
done

allowed="show, issues, history, roas, aspas, bgpsec list, parents statuses, repo status (on $ca)"
case "${args[0]:-}" in
    ""|-h|--help|help|-V|--version|health|info|show|issues) ;;
    list)
        # The pod has one CA; the others are none of its business.
        printf '0\n%s\n' "$ca"
        exit 0 ;;
    history|roas|aspas|bgpsec|parents|repo)
        case "${args[0]} ${args[1]:-}" in
            "history commands"|"history details"|"history help"|"history "|\
            "roas list"|"roas update"|"roas bgp"|"roas help"|"roas "|\
            "aspas list"|"aspas add"|"aspas remove"|"aspas update"|"aspas help"|"aspas "|\
            "bgpsec list"|"bgpsec help"|"bgpsec "|\
            "parents statuses"|"parents contact"|"parents help"|"parents "|\
            "repo show"|"repo status"|"repo help"|"repo ") ;;
            *) refuse "'krillc ${args[0]} ${args[1]}' is not for participants; allowed: $allowed" ;;
        esac ;;
    *) refuse "'krillc ${args[0]}' is not for participants; allowed: $allowed" ;;
esac

# Options: --ca (or -c) only with the pod's own CA, and only these others:
# no file read on a participant's behalf (--delta, --csr), no other server
# or token (--server, --token).
want_ca=no
for a in "${args[@]:1}"; do
    if [ "$want_ca" = yes ]; then
        [ "$a" = "$ca" ] || refuse "this pod's CA is $ca, not '$a'"
        want_ca=no
        continue
    fi
    case "$a" in
        --ca|-c) want_ca=yes ;;
        --ca=*) [ "${a#--ca=}" = "$ca" ] || refuse "this pod's CA is $ca, not '${a#--ca=}'" ;;
        -c?*) [ "${a#-c}" = "$ca" ] || refuse "this pod's CA is $ca, not '${a#-c}'" ;;
        --add|--remove|--dryrun|--try|--help|-h|\
        --customer|--customer=*|--provider|--provider=*|--offset|--offset=*|\
        --rows|--rows=*|--after|--after=*|--before|--before=*|--key|--key=*|\
        --parent|--parent=*) ;;
        -f|-f?*|--format|--format=*)
            refuse "--format goes before the command: krillc --format json ${args[0]} ..." ;;
        -*) refuse "option '$a' is not allowed through the gate" ;;
    esac
done

out=$(KRILL_CLI_MY_CA=$ca krillc "${pre[@]}" "${args[@]}" 2>&1)
rc=$?
printf '%s\n%s\n' "$rc" "$out"
{%- endraw %}
