#!/bin/sh
# tal-watch: the Krill node makes a new trust anchor when it is made anew
# (`noglab reset --shared`, or a change to its files), and FORT's TAL no
# longer matches it. Every 10 s, fetch the TAL and put a changed one in
# place: FORT reads the TALs again at each validation. (A FORT started
# again would be a new RTR session, which routers only accept after their
# data expires: ten minutes.)
url=$(head -n1 /etc/tals/lab.tal.url)
while sleep 10; do
    curl -fsk --max-time 5 -o /tmp/lab.tal.now "$url" || continue
    if [ -s /etc/tals/lab.tal ] && ! cmp -s /tmp/lab.tal.now /etc/tals/lab.tal; then
        mv -f /tmp/lab.tal.now /etc/tals/lab.tal
        echo "tal-watch: the lab's trust anchor changed; FORT uses the new one from its next validation"
    fi
done
