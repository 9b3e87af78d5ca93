#!/bin/sh
# The client's probes, which the checks read back. Two run from the start:
#   ping  the server at site B, every 100 ms (ping's own timestamps, -D);
#   dns   www.{{ vars.zone }} from the anycast address, every 200 ms,
#         one line per query: its time, then "ok" or "fail".
# A failure shows as probes lost in a row, up to now; the report counts
# only what follows the first answer, so that the minutes before routing
# was set up are not a failure.
#
#   probe start | stop | restart | status
#   probe report ping|dns [LIMIT]   exit 0 when fewer than LIMIT were lost
#                                   in a row (and enough were answered)
set -u
dir=/var/log/probe
server={{ nodes.server.interfaces.eth1.ipv4_address }}
anycast={{ vars.anycast }}
name=www.{{ vars.zone }}
www={{ vars.www }}

# The participant restarts and reads the probes over SSH, as user lab:
# the exec lines start them as root, and they run as lab all the same.
if [ "$(id -u)" = 0 ] && id lab >/dev/null 2>&1; then
    mkdir -p "$dir" && chown -R lab:lab "$dir"
    exec setpriv --reuid=lab --regid=lab --init-groups "$0" "$@"
fi

running() {
    [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null
}

start() {
    mkdir -p "$dir"
    if ! running ping; then
        setsid ping -D -n -i 0.1 "$server" </dev/null >"$dir/ping.log" 2>&1 &
        echo $! >"$dir/ping.pid"
    fi
    if ! running dns; then
        setsid sh -c '
            while :; do
                t=$(date +%s.%N)
                if dig +short +norec +time=1 +tries=1 @'"$anycast $name"' A | grep -qxF '"'$www'"'; then
                    echo "$t ok"
                else
                    echo "$t fail"
                fi
                sleep 0.2
            done' </dev/null >"$dir/dns.log" 2>&1 &
        echo $! >"$dir/dns.pid"
    fi
}

stop() {
    for p in ping dns; do
        if running "$p"; then
            kill -- "-$(cat "$dir/$p.pid")" 2>/dev/null || kill "$(cat "$dir/$p.pid")"
        fi
        rm -f "$dir/$p.pid"
    done
}

# Replies, the most lost in a row between two replies (icmp_seq counts
# modulo 65536) or since the last reply, and the longest time without one.
report_ping() {
    awk -v limit="$1" -v now="$(date +%s.%N)" -v interval=0.1 '
        / bytes from .*icmp_seq=/ {
            t = substr($1, 2, length($1) - 2) + 0
            s = $0; sub(/.*icmp_seq=/, "", s); sub(/ .*/, "", s); s += 0
            if (n > 0) {
                lost = (s - prev - 1 + 65536) % 65536
                if (lost > worst) worst = lost
                if (t - last > gap) gap = t - last
            }
            n++; prev = s; last = t
        }
        END {
            if (n > 0 && now - last > 2 * interval) {
                lost = int((now - last) / interval) - 1
                if (lost > worst) worst = lost
                if (now - last > gap) gap = now - last
            }
            printf "ping: %d replies, at most %d lost in a row, longest time without a reply %d ms (limit: fewer than %d lost)\n", n, worst, gap * 1000, limit
            exit !(n >= 20 && worst < limit)
        }' "$dir/ping.log"
}

report_dns() {
    awk -v limit="$1" '
        $2 == "ok" {
            if (ok > 0 && run > worst) worst = run
            if (ok > 0 && run > 0 && $1 - last > gap) gap = $1 - last
            ok++; run = 0; last = $1
            next
        }
        $2 == "fail" { if (ok > 0) { failed++; run++ } }
        END {
            if (run > worst) worst = run
            printf "dns: %d answered, %d unanswered since the first answer, at most %d in a row, longest time without an answer %d ms (limit: fewer than %d in a row)\n", ok, failed, worst, gap * 1000, limit
            exit !(ok >= 10 && worst < limit)
        }' "$dir/dns.log"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart) stop; start ;;
status)
    for p in ping dns; do
        if running "$p"; then echo "$p: running"; else echo "$p: stopped"; exit 1; fi
    done ;;
report)
    case "${2:-}" in
    ping) report_ping "${3:-10}" ;;
    dns) report_dns "${3:-2}" ;;
    *) echo "usage: probe report ping|dns [LIMIT]" >&2; exit 2 ;;
    esac ;;
*) echo "usage: probe start|stop|restart|status|report ping|dns [LIMIT]" >&2; exit 2 ;;
esac
