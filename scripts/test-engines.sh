#!/bin/sh
# Extra Docker engines on this machine for the tests of labs spread over
# several engines: each dockerd in its own network namespace, joined to
# the others by a veth into a bridge (their `parent` for shared networks:
# eth1, and with SEGMENTS=N one more per segment, eth2 ... ethN, each
# into a bridge of its own). With MAIN_PARENT=1 the main engine's host
# joins the segments too, by veths named nogmain1 ... nogmainN (its
# `parent`). Idempotent; never touches the main engine's own networks.
#
#   scripts/test-engines.sh up   ROOT NAME...   start engines NAME (sockets /run/docker-NAME.sock)
#   scripts/test-engines.sh down ROOT NAME...   stop them and remove all they made (ROOT/NAME too)
#
# ROOT holds each engine's data, exec root, pid file and log. Needs root.
set -eu

SEGMENTS=${SEGMENTS:-1}
MAIN_PARENT=${MAIN_PARENT:-0}
MOST_SEGMENTS=4
action=$1 root=$(realpath -m "$2")
shift 2

# The bridge of segment K (0-based) and the veth ends of engine NAME on it.
bridge_of() { echo "nogeng$1"; }
host_end() { if [ "$2" -eq 0 ]; then echo "ve-$1"; else echo "ve$2-$1"; fi; }

ns_of() { echo "nogeng-$1"; }

up_one() {
    name=$1 i=$2 ns=$(ns_of "$1")
    mkdir -p "$root/$name"
    ip netns list | grep -qx "$ns\( .*\)\?" || ip netns add "$ns"
    k=0
    while [ "$k" -lt "$SEGMENTS" ]; do
        end=$(host_end "$name" "$k")
        if ! ip link show "$end" >/dev/null 2>&1; then
            ip link add "$end" type veth peer name "eth$((k + 1))" netns "$ns"
        fi
        ip link set "$end" master "$(bridge_of "$k")" up
        ip netns exec "$ns" ip link set "eth$((k + 1))" up
        k=$((k + 1))
    done
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr replace "10.231.0.$i/24" dev eth1
    sock=/run/docker-$name.sock
    pidfile=$root/$name/dockerd.pid
    # A dockerd still running answers, or is stopping (it waits for its
    # containers first): wait for one or the other.
    if [ -f "$pidfile" ]; then
        for _ in $(seq 1 120); do
            kill -0 "$(cat "$pidfile")" 2>/dev/null || break
            docker -H "unix://$sock" version >/dev/null 2>&1 && return 0
            sleep 0.5
        done
    fi
    # nsenter, not `ip netns exec`: that remounts /sys, where dockerd then
    # finds no cgroups.
    nsenter --net="/run/netns/$ns" dockerd \
        --data-root "$root/$name/data" --exec-root "$root/$name/exec" \
        --pidfile "$pidfile" -H "unix://$sock" --bridge none \
        >"$root/$name/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
        docker -H "unix://$sock" version >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "dockerd $name did not start; see $root/$name/dockerd.log" >&2
    return 1
}

down_one() {
    name=$1 ns=$(ns_of "$1") dir=$root/$1 sock=/run/docker-$1.sock
    # Containers first, at once: a dockerd stopping waits for each.
    if [ -S "$sock" ]; then
        ids=$(docker -H "unix://$sock" ps -aq 2>/dev/null || true)
        [ -z "$ids" ] || docker -H "unix://$sock" rm -f $ids >/dev/null 2>&1 || true
    fi
    # This engine's own processes: its dockerd (by its pid file, or by
    # its data root when the file is gone) and the shims of its containers.
    pids=$(ps -eo pid=,args= | awk -v d="$dir/" 'index($0, d) { print $1 }')
    [ -f "$dir/dockerd.pid" ] && pids="$pids $(cat "$dir/dockerd.pid")"
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 40); do
        alive=
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break
        sleep 0.5
    done
    for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
    rm -f "$sock"
    k=0
    while [ "$k" -lt "$MOST_SEGMENTS" ]; do
        ip link del "$(host_end "$name" "$k")" 2>/dev/null || true
        k=$((k + 1))
    done
    ip netns del "$ns" 2>/dev/null || true
    # What the engine left mounted, deepest first, then all it kept.
    grep -F " $dir/" /proc/mounts | awk '{ print $2 }' | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "${dir:?}" || true
}

case $action in
up)
    [ "$SEGMENTS" -ge 1 ] && [ "$SEGMENTS" -le "$MOST_SEGMENTS" ] ||
        { echo "SEGMENTS is 1 to $MOST_SEGMENTS" >&2; exit 2; }
    k=0
    while [ "$k" -lt "$SEGMENTS" ]; do
        br=$(bridge_of "$k")
        ip link show "$br" >/dev/null 2>&1 || ip link add "$br" type bridge
        ip link set "$br" up
        # The main engine's FORWARD policy drops; frames bridged between
        # the engines pass through it (br_netfilter).
        iptables -C FORWARD -i "$br" -o "$br" -j ACCEPT 2>/dev/null ||
            iptables -I FORWARD -i "$br" -o "$br" -j ACCEPT
        if [ "$MAIN_PARENT" = 1 ]; then
            main=nogmain$((k + 1))
            ip link show "$main" >/dev/null 2>&1 ||
                ip link add "$main" type veth peer name "vm$k-main"
            ip link set "vm$k-main" master "$br" up
            ip link set "$main" up
        fi
        k=$((k + 1))
    done
    i=1
    for name in "$@"; do
        i=$((i + 1))
        up_one "$name" "$i"
    done
    ;;
down)
    for name in "$@"; do down_one "$name"; done
    k=0
    while [ "$k" -lt "$MOST_SEGMENTS" ]; do
        br=$(bridge_of "$k")
        ip link del "nogmain$((k + 1))" 2>/dev/null || true
        iptables -D FORWARD -i "$br" -o "$br" -j ACCEPT 2>/dev/null || true
        ip link del "$br" 2>/dev/null || true
        k=$((k + 1))
    done
    ;;
*)
    echo "usage: $0 up|down ROOT NAME..." >&2
    exit 2
    ;;
esac
