#!/usr/bin/env bash
# Prepare this machine for noglab: Docker engine installed and answering, and
# the base image debian:bookworm-slim present (pulled, or built locally with
# images/base/bootstrap.sh when no registry is reachable).  Idempotent; run as
# root.  Prints one line per action taken, nothing when all is already in place.
#
#   NOGLAB_BASE_IMAGE     base image tag (default debian:bookworm-slim)
#   NOGLAB_PULL_TIMEOUT   seconds allowed for `docker pull` (default 20)
#   NOGLAB_DEBIAN_MIRROR  passed on to bootstrap.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bootstrap="$here/../images/base/bootstrap.sh"
image="${NOGLAB_BASE_IMAGE:-debian:bookworm-slim}"
pull_timeout="${NOGLAB_PULL_TIMEOUT:-20}"
dockerd_log=/var/log/noglab-dockerd.log

say() { echo "setup-engine: $*"; }
die() { echo "setup-engine: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

# 1. Docker engine installed.
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    say "installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq docker.io >/dev/null || die "apt-get install docker.io failed"
    command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after installing docker.io"
fi

# 2. Docker engine answering.
engine_up() { timeout 5 docker info >/dev/null 2>&1; }
if ! engine_up; then
    # The default daemon's own pid file, not any dockerd: daemons of other
    # engines on this machine (tests run some in network namespaces) are
    # not this one.
    if [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        say "dockerd is running but not answering yet; waiting"
    else
        say "starting dockerd (log: $dockerd_log)"
        nohup dockerd >>"$dockerd_log" 2>&1 </dev/null &
        disown || true
    fi
    deadline=$((SECONDS + 60))
    until engine_up; do
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 1
    done
    if ! engine_up; then
        tail -n 15 "$dockerd_log" >&2 2>/dev/null || true
        die "Docker engine does not answer after 60 s (see $dockerd_log)"
    fi
fi

# 3. Base image.
if ! docker image inspect "$image" >/dev/null 2>&1; then
    if timeout "$pull_timeout" docker pull -q "$image" >/dev/null 2>&1; then
        say "pulled $image"
    else
        say "cannot pull $image; building it with debootstrap (about a minute)"
        [ -x "$bootstrap" ] || die "$bootstrap not found or not executable"
        NOGLAB_BASE_IMAGE="$image" "$bootstrap" >/dev/null \
            || die "building $image with $bootstrap failed"
        docker image inspect "$image" >/dev/null 2>&1 || die "$image still missing after bootstrap"
        say "built $image"
    fi
fi
