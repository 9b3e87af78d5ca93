#!/bin/sh
# roa-reload: BIRD 2.0, this lab's, applies import filters when routes
# arrive, not when the ROA table changes (BIRD 2.14 does: `rpki reload`).
# As operators do from cron, this runs `birdc reload in all` whenever the
# data of an RPKI protocol changes (its serial number), looking every
# 5 s: the routes each session keeps (`import table on`) go through the
# import filters again, with no request to the neighbors.
last=
while sleep 5; do
    now=$(birdc show protocols all 2>/dev/null | grep -E '^[[:space:]]*(Session ID|Serial number):')
    if [ -n "$now" ] && [ "$now" != "$last" ]; then
        birdc reload in all >/dev/null 2>&1
        echo "roa-reload: $(date +%T) the ROAs changed; import filters applied again"
    fi
    last=$now
done
