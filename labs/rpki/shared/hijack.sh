#!/bin/bash
# hijack: makes this router (AS64511) announce pods' prefixes as its own.
#   hijack POD|all             the two halves of the pod's /24 (more specific:
#                              they win wherever they are accepted)
#   hijack POD|all exact       the pod's /24 itself (wins by its shorter AS path)
#   hijack stop POD|all        withdraws what it announces for the pod
#   hijack list                what it announces now
# What it captures it rejects: a pod whose traffic comes here sees
# "Destination Host Unreachable" from 100.64.0.2 (ping, traceroute).
set -euo pipefail
pods=({% for p in all_pods %}{{ p.pod }} {% endfor %})
usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
prefixes() { # POD MODE
    case $2 in
        exact) echo "100.68.$1.0/24" ;;
        *) echo "100.68.$1.0/25 100.68.$1.128/25" ;;
    esac
}
targets() {
    if [ "$1" = all ]; then
        echo "${pods[@]}"
    elif [[ $1 =~ ^[0-9]+$ ]] && [[ " ${pods[*]} " == *" $1 "* ]]; then
        echo "$1"
    else
        echo "hijack: no pod '$1' in this lab (pods: ${pods[*]})" >&2
        exit 2
    fi
}
announce() { # POD MODE
    local cmds=(-c "configure terminal") p
    for p in $(prefixes "$1" "$2"); do
        cmds+=(-c "ip route $p reject")
    done
    cmds+=(-c "router bgp 64511" -c "address-family ipv4 unicast")
    for p in $(prefixes "$1" "$2"); do
        cmds+=(-c "network $p")
    done
    vtysh "${cmds[@]}" >/dev/null
}
withdraw() { # POD: whatever is announced for it, one command at a time
    local p
    for p in $(announced | grep "^100\.68\.$1\."); do
        vtysh -c "configure terminal" -c "router bgp 64511" \
            -c "address-family ipv4 unicast" -c "no network $p" >/dev/null
        vtysh -c "configure terminal" -c "no ip route $p reject" >/dev/null
    done
}
announced() {
    vtysh -c "show running-config" | awk '$1 == "network" { print $2 }'
}
case "${1:-}" in
    list)
        out=$(announced)
        echo "${out:-hijack: nothing announced}" ;;
    stop)
        [ $# -eq 2 ] || usage
        list=$(targets "$2") || exit 2
        for n in $list; do
            withdraw "$n"
            echo "hijack: AS64511 announces nothing of pod $n's"
        done ;;
    ""|-h|--help) usage ;;
    *)
        [ $# -le 2 ] || usage
        mode=${2:-more}
        [ "$mode" = more ] || [ "$mode" = exact ] || usage
        list=$(targets "$1") || exit 2
        for n in $list; do
            announce "$n" "$mode"
            echo "hijack: AS64511 announces $(prefixes "$n" "$mode") (pod $n's)"
        done ;;
esac
