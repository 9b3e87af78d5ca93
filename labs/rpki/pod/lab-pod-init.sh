#!/bin/bash
# lab-pod-init: run by the host at each start. Waits for Krill's gate (the
# first request makes the pod's CA, pod{{ pod }}) and, the first time this
# host starts (a new pod, or after `noglab reset`), removes the CA's ROAs:
# the pod starts over with no ROA, as everything else in it.
set -u
for i in $(seq 90); do
    if list=$(krillc roas list 2>&1); then
        break
    fi
    [ "$i" -lt 90 ] || { echo "lab-pod-init: Krill's gate: $list" >&2; exit 1; }
    sleep 2
done
mark=/var/lib/lab-pod-init.done
[ -e "$mark" ] && exit 0
remove=()
while IFS= read -r roa; do
    [[ $roa == *" => "* ]] && remove+=(--remove "$roa")
done <<<"$list"
if [ -n "${remove[*]:-}" ]; then
    krillc roas update "${remove[@]}" || exit 1
    echo "lab-pod-init: removed the ROAs of pod{{ pod }}:" "${remove[@]}"
fi
touch "$mark"
