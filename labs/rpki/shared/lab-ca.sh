# lab-ca: sourced by lab-setup and krill-gate. make_ca NAME ASNS IPV4 makes
# the CA NAME as a child of Krill's testbed CA with these resources,
# publishing in Krill's own repository, and returns once the parent has
# certified its resources (Krill refuses ROAs until then). Does nothing
# for a CA that exists.
make_ca() {
    local name=$1 work i
    if krillc list | grep -qx "$name"; then
        return 0
    fi
    work=$(mktemp -d)
    krillc add --ca "$name" >/dev/null
    krillc repo request --ca "$name" >"$work/publisher-request.xml"
    krillc pubserver publishers add --request "$work/publisher-request.xml" \
        >"$work/repository-response.xml"
    krillc repo configure --ca "$name" --response "$work/repository-response.xml" >/dev/null
    krillc parents request --ca "$name" >"$work/child-request.xml"
    krillc children add --ca testbed --child "$name" --asn "$2" --ipv4 "$3" \
        --request "$work/child-request.xml" >"$work/parent-response.xml"
    krillc parents add --ca "$name" --parent testbed \
        --response "$work/parent-response.xml" >/dev/null
    rm -rf "$work"
    for i in $(seq 60); do
        if krillc --format json show --ca "$name" | grep -q '"active_key"'; then
            echo "lab-ca: CA $name for $2 $3" >&2
            return 0
        fi
        sleep 0.5
    done
    echo "lab-ca: the testbed CA has not certified $name's resources after 30 s" >&2
    return 1
}
