#!/bin/sh
# tal-watch: the Krill node made a new trust anchor when it was made again
# (`noglab reset --shared --node krill`): FORT's TAL no longer matches. Every
# 10 s, fetch the TAL; when it changed, stop FORT, which rpki-start starts
# again with the new one.
url=$(head -n1 /etc/tals/lab.tal.url)
while sleep 10; do
    curl -fsSk --max-time 5 -o /tmp/lab.tal.now "$url" || continue
    if [ -s /etc/tals/lab.tal ] && ! cmp -s /tmp/lab.tal.now /etc/tals/lab.tal; then
        echo "tal-watch: the lab's trust anchor changed; restarting FORT"
        pkill -x fort
    fi
done
