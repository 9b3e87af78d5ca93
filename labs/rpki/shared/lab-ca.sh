# lab-ca: sourced by lab-setup and krill-gate. make_ca NAME ASNS IPV4 makes
# the CA NAME as a child of Krill's testbed CA with these resources,
# publishing in Krill's own repository, and returns once the parent has
# certified its resources (Krill refuses ROAs until then). A CA that
# exists is not made again, but is waited for all the same: with a room of
# pods asking at once, the request that made it may have given up before
# the parent certified it, and the next one must not go on without.
make_ca() {
    local name=$1 work i
    if ! krillc list | grep -qx "$name"; then
        new_ca "$@" || return 1
    fi
    for i in $(seq 120); do
        if krillc --format json show --ca "$name" | grep -q '"active_key"'; then
            return 0
        fi
        sleep 0.5
    done
    echo "lab-ca: the testbed CA has not certified $name's resources after 60 s" >&2
    return 1
}

new_ca() {
    local name=$1 work
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
    echo "lab-ca: CA $name for $2 $3" >&2
}
