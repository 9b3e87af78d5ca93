#!/bin/sh
# Extra Docker engines on this machine for the tests of labs spread over
# several engines: each dockerd in its own network namespace, joined to
# the others by a veth into one bridge (their `parent` for shared
# networks). Idempotent; never touches the main engine.
#
#   scripts/test-engines.sh up   ROOT NAME...   start engines NAME (sockets /run/docker-NAME.sock)
#   scripts/test-engines.sh down ROOT NAME...   stop them and remove all they made (ROOT/NAME too)
#
# ROOT holds each engine's data, exec root, pid file and log. Needs root.
set -eu

BRIDGE=nogeng0
action=$1 root=$(realpath -m "$2")
shift 2

ns_of() { echo "nogeng-$1"; }

up_one() {
    name=$1 i=$2 ns=$(ns_of "$1")
    mkdir -p "$root/$name"
    ip netns list | grep -qx "$ns\( .*\)\?" || ip netns add "$ns"
    if ! ip link show "ve-$name" >/dev/null 2>&1; then
        ip link add "ve-$name" type veth peer name eth1 netns "$ns"
    fi
    ip link set "ve-$name" master "$BRIDGE" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip link set eth1 up
    ip netns exec "$ns" ip addr replace "10.231.0.$i/24" dev eth1
    sock=/run/docker-$name.sock
    pidfile=$root/$name/dockerd.pid
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        return 0
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
    ip link del "ve-$name" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    # What the engine left mounted, deepest first, then all it kept.
    grep -F " $dir/" /proc/mounts | awk '{ print $2 }' | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "${dir:?}" || true
}

case $action in
up)
    ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
    ip link set "$BRIDGE" up
    # The main engine's FORWARD policy drops; frames bridged between the
    # engines pass through it (br_netfilter).
    iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null ||
        iptables -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    i=1
    for name in "$@"; do
        i=$((i + 1))
        up_one "$name" "$i"
    done
    ;;
down)
    for name in "$@"; do down_one "$name"; done
    iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null || true
    ip link del "$BRIDGE" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 up|down ROOT NAME..." >&2
    exit 2
    ;;
esac
