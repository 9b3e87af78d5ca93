#!/usr/bin/env bash
# mkrepo.sh OUTDIR: makes a small offline RPKI repository with openssl: a
# trust anchor for the documentation ranges, its CRL and manifest, and two
# ROAs, valid for ten years, published (as far as validators know) at
# rsync://192.0.2.1/repo/. Writes each object base64-encoded (noglab's
# `files:` carry text) and the TAL as lab.tal; the private keys are thrown
# away. The rpki image decodes *.b64 files in FORT's cache at start.
#
# The ROAs: 192.0.2.0/24 for AS64501 and 198.51.100.0/24 for AS64511.
set -euo pipefail
out=${1:?usage: mkrepo.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
base=rsync://192.0.2.1/repo
now=$(date -u +%Y%m%d%H%M%SZ)
later=$(date -u -d '+3650 days' +%Y%m%d%H%M%SZ)

cat >ca.cnf <<CNF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = noglab-lab-ta
[ ta ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
certificatePolicies = critical, 1.3.6.1.5.5.7.14.2
subjectInfoAccess = 1.3.6.1.5.5.7.48.5;URI:$base/, 1.3.6.1.5.5.7.48.10;URI:$base/ta.mft
sbgp-ipAddrBlock = critical, IPv4:192.0.2.0/24, IPv4:198.51.100.0/24, IPv4:203.0.113.0/24, IPv6:2001:db8::/32
sbgp-autonomousSysNum = critical, AS:64496-64511
[ ca ]
default_ca = lab
[ lab ]
database = $work/index.txt
crlnumber = $work/crlnumber
default_md = sha256
default_crl_days = 3650
[ crl ]
authorityKeyIdentifier = keyid:always
CNF
: >index.txt
echo 01 >crlnumber

openssl genrsa -out ta.key 2048 2>/dev/null
openssl req -new -x509 -key ta.key -out ta.pem -days 3650 -config ca.cnf \
    -extensions ta -sha256 -set_serial 1
openssl x509 -in ta.pem -outform DER -out ta.cer
openssl ca -gencrl -config ca.cnf -keyfile ta.key -cert ta.pem -crlexts crl \
    -out ta.crl.pem 2>/dev/null
openssl crl -in ta.crl.pem -outform DER -out ta.crl

serial=10
# sign NAME ECONTENT_OID ECONTENT_DER IP_RESOURCES: an EE certificate for the
# object and the CMS signed object NAME around the eContent.
sign() {
    local name=$1 oid=$2 content=$3 ips=$4
    serial=$((serial + 1))
    cat >"$name.ext" <<CNF
[ ee ]
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:$base/ta.crl
authorityInfoAccess = caIssuers;URI:$base/ta.cer
subjectInfoAccess = 1.3.6.1.5.5.7.48.11;URI:$base/$name
certificatePolicies = critical, 1.3.6.1.5.5.7.14.2
sbgp-ipAddrBlock = critical, $ips
CNF
    if [ "${name##*.}" = mft ]; then
        echo "sbgp-autonomousSysNum = critical, AS:inherit" >>"$name.ext"
    fi
    openssl genrsa -out "$name.key" 2048 2>/dev/null
    openssl req -new -key "$name.key" -subj "/CN=$name" -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA ta.pem -CAkey ta.key -set_serial "$serial" \
        -days 3650 -sha256 -extfile "$name.ext" -extensions ee -out "$name.pem" 2>/dev/null
    openssl cms -sign -binary -nodetach -nosmimecap -keyid -md sha256 \
        -econtent_type "$oid" -signer "$name.pem" -inkey "$name.key" \
        -in "$content" -outform DER -out "$name"
}

# roa NAME ASN PREFIX_HEX: a ROA for one IPv4 /24 (three bytes of hex).
roa() {
    cat >"$1.asn1" <<CNF
asn1 = SEQUENCE:roa
[ roa ]
asid = INTEGER:$2
blocks = SEQUENCE:blocks
[ blocks ]
v4 = SEQUENCE:v4
[ v4 ]
afi = FORMAT:HEX,OCTETSTRING:0001
addresses = SEQUENCE:addresses
[ addresses ]
a1 = SEQUENCE:a1
[ a1 ]
prefix = FORMAT:HEX,BITSTRING:$3
CNF
    openssl asn1parse -genconf "$1.asn1" -out "$1.der" >/dev/null
    sign "$1" 1.2.840.113549.1.9.16.1.24 "$1.der" "$4"
}
roa as64501.roa 64501 C00002 IPv4:192.0.2.0/24
roa as64511.roa 64511 C63364 IPv4:198.51.100.0/24

# The manifest lists the CRL and the ROAs with their SHA-256.
{
    cat <<CNF
asn1 = SEQUENCE:mft
[ mft ]
number = INTEGER:1
this = GENTIME:$now
next = GENTIME:$later
alg = OID:2.16.840.1.101.3.4.2.1
files = SEQUENCE:files
[ files ]
CNF
    i=0
    for f in ta.crl as64501.roa as64511.roa; do
        i=$((i + 1))
        echo "f$i = SEQUENCE:f$i"
    done
    i=0
    for f in ta.crl as64501.roa as64511.roa; do
        i=$((i + 1))
        printf '[ f%s ]\nname = IA5STRING:%s\nhash = FORMAT:HEX,BITSTRING:%s\n' \
            "$i" "$f" "$(sha256sum "$f" | cut -d' ' -f1)"
    done
} >mft.asn1
openssl asn1parse -genconf mft.asn1 -out mft.der >/dev/null
sign ta.mft 1.2.840.113549.1.9.16.1.26 mft.der "IPv4:inherit, IPv6:inherit"

for f in ta.cer ta.crl ta.mft as64501.roa as64511.roa; do
    base64 -w 76 "$f" >"$out/$f.b64"
done
{
    echo "$base/ta.cer"
    echo
    openssl pkey -in ta.key -pubout -outform DER | base64 -w 64
} >"$out/lab.tal"
echo "mkrepo: wrote ta.cer ta.crl ta.mft as64501.roa as64511.roa (.b64) and lab.tal to $out"
