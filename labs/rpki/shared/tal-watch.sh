#!/bin/sh
# tal-watch: keeps FORT trusting what Krill is now, every 10 s.
#
# Krill's HTTPS certificate for krill.test (rrdp-tls on the Krill node),
# with which FORT fetches RRDP: fetched from Krill itself (trust on first
# use, inside the lab), put in FORT's ca-path with OpenSSL's hash links,
# and replaced when Krill's node is made anew with a new one. Until FORT
# trusts it, FORT fetches over rsync.
#
# The TAL: the Krill node makes a new trust anchor when it is made anew
# (`noglab reset --shared`, or a change to its files), and FORT's TAL no
# longer matches it. A changed TAL is put in place: FORT reads the TALs
# again at each validation. (A FORT started again would be a new RTR
# session, which routers only accept after their data expires: ten
# minutes.)
url=$(head -n1 /etc/tals/lab.tal.url)
ca=/etc/fort/ca
while :; do
    cert=$(openssl s_client -connect krill.test:443 -servername krill.test </dev/null 2>/dev/null | openssl x509 2>/dev/null)
    if [ -n "$cert" ] && [ "$cert" != "$(cat "$ca/krill.test.pem" 2>/dev/null)" ]; then
        printf '%s\n' "$cert" >"$ca/krill.test.pem.new"
        mv -f "$ca/krill.test.pem.new" "$ca/krill.test.pem"
        openssl rehash "$ca"
        echo "tal-watch: FORT trusts Krill's certificate for krill.test (RRDP) from now on"
    fi
    if curl -fsk --max-time 5 -o /tmp/lab.tal.now "$url"; then
        if [ -s /etc/tals/lab.tal ] && ! cmp -s /tmp/lab.tal.now /etc/tals/lab.tal; then
            mv -f /tmp/lab.tal.now /etc/tals/lab.tal
            echo "tal-watch: the lab's trust anchor changed; FORT uses the new one from its next validation"
        fi
    fi
    sleep 10
done
