#!/bin/sh
# Puts the pod's route objects in the IRR back as the lab starts them
# (100.73.N.0/24 registered to the customer's old AS, AS64510), once per
# border made anew (`noglab reset`, `noglab up` back to the start): a
# restart keeps what participants submitted. Through IRRd's submissions,
# with the pod's password, as participants do it.
set -eu
[ -e /var/lib/irr-reset.done ] && exit 0
irr={{ vars.irr }}
password=$(cat /etc/irr/password)
for _ in $(seq 90); do
    whois -h $irr AS-POD{{ pod }}-CUSTOMERS 2>/dev/null | grep -q '^members:' && break
    sleep 2
done
submit() {
    out=$(curl -sS -X "$1" http://$irr:8080/v1/submit/ --data @-)
    echo "$out" | grep -qE '"failed": ?0' || echo "$out" | grep -q "no object found" || { echo "$out"; exit 1; }
}
submit POST <<JSON
{"objects": [{"object_text": "route: {{ vars.stale }}\ndescr: Pod {{ pod }}'s customer, behind its old provider\norigin: AS64510\nmnt-by: {{ vars.maintainer }}\nsource: LAB\n"}],
 "passwords": ["$password"]}
JSON
submit DELETE <<JSON
{"objects": [{"object_text": "route: {{ vars.stale }}\norigin: AS{{ vars.customer_asn }}\nmnt-by: {{ vars.maintainer }}\nsource: LAB\n"}],
 "passwords": ["$password"], "delete_reason": "the lab starts again"}
JSON
touch /var/lib/irr-reset.done
echo "the IRR has pod {{ pod }}'s objects as the lab starts them"
