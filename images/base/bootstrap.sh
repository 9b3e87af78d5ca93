#!/usr/bin/env bash
# Build the noglab base image `debian:bookworm-slim` locally with debootstrap,
# for machines that cannot pull from an image registry but can reach a Debian
# package mirror.  Run as root.
#
#   NOGLAB_DEBIAN_MIRROR  mirror URL (default http://deb.debian.org/debian)
#   NOGLAB_BASE_IMAGE     image tag to create (default debian:bookworm-slim)
#   NOGLAB_SUITE          Debian suite (default bookworm)
set -euo pipefail

mirror="${NOGLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
image="${NOGLAB_BASE_IMAGE:-debian:bookworm-slim}"
suite="${NOGLAB_SUITE:-bookworm}"

die() { echo "bootstrap: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap needs it)"
command -v docker >/dev/null 2>&1 || die "docker CLI not found"

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "bootstrap: installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
        || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        debootstrap >/dev/null || die "cannot install debootstrap"
fi

rootfs="$(mktemp -d /var/tmp/noglab-rootfs.XXXXXX)"
cleanup() { rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

echo "bootstrap: debootstrap $suite (minbase) from $mirror"
log="$rootfs.log"
if ! debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    die "debootstrap failed (full log above, mirror $mirror)"
fi
rm -f "$log"

# Trim the tree the way the official slim images do.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
       "$rootfs"/var/cache/debconf/*-old "$rootfs"/tmp/* 2>/dev/null || true
# "slim": drop docs, man pages and translations, now and for later installs
# (same path-excludes as the official debian:*-slim images).
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/* 2>/dev/null || true
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias \
     -exec rm -rf {} + 2>/dev/null || true
# apt sources: main + updates from the chosen mirror; security from
# $NOGLAB_DEBIAN_SECURITY_MIRROR (default deb.debian.org, only when the main
# mirror is the default one too, so a private mirror setup stays self-contained).
security="${NOGLAB_DEBIAN_SECURITY_MIRROR:-}"
if [ -z "$security" ] && [ "$mirror" = "http://deb.debian.org/debian" ]; then
    security="http://deb.debian.org/debian-security"
fi
{
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [ -z "$security" ] || echo "deb $security $suite-security main"
} >"$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-languages" <<'APT'
Acquire::Languages "none";
APT
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup" <<'APT'
force-unsafe-io
APT
# Containers get their resolv.conf/hosts/hostname from Docker.
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

echo "bootstrap: importing as $image"
tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$image" >/dev/null || die "docker import failed"
echo "bootstrap: created $image"
