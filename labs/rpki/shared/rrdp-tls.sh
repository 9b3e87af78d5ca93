#!/bin/bash
# rrdp-tls: Krill serves its repository over RRDP (HTTPS) with a
# certificate it makes for itself that names no host, which no validator
# can check against krill.test. This proxy on port 443 presents a
# certificate for krill.test instead, made here once per node
# (self-signed, kept in /var/lib/krill/rrdp-tls), and passes each
# connection on to Krill's port 3000. The validator (rp) fetches the
# certificate from here and trusts it for krill.test only: see its
# tal-watch. Runs at every start of the node.
set -eu
d=/var/lib/krill/rrdp-tls
mkdir -p "$d"
if [ ! -s "$d/proxy.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -days 3650 -subj /CN=krill.test -addext subjectAltName=DNS:krill.test \
        -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
    cat "$d/key.pem" "$d/cert.pem" >"$d/proxy.pem"
    chmod 0600 "$d/key.pem" "$d/proxy.pem"
    echo "rrdp-tls: made a certificate for krill.test"
fi
setsid socat OPENSSL-LISTEN:443,reuseaddr,fork,cert="$d/proxy.pem",verify=0 \
    OPENSSL:127.0.0.1:3000,verify=0 </dev/null >>/var/log/rrdp-tls.log 2>&1 &
