#!/usr/bin/env bash
# Regenerates the JOSE interoperability fixtures with tools independent of medulla: the openssl
# command line makes the keys and signatures, python3's standard library does base64url, JSON,
# the RFC 7638 thumbprint and the ECDSA DER -> r||s conversion. Run from this directory; the
# tests only read the results (they are committed, not regenerated at test time).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-private.pem  # PKCS#8
openssl pkey -in rsa-private.pem -pubout -out rsa-public.pem
openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ec.pem"
openssl ec -in "$tmp/ec.pem" -out ec-private.pem 2>/dev/null  # traditional "EC PRIVATE KEY"
openssl pkey -in ec-private.pem -pubout -out ec-public.pem
openssl pkey -pubin -in ec-public.pem -outform DER -out "$tmp/ec-public.der"

b64url() { python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(sys.stdin.buffer.read()).rstrip(b"=").decode(), end="")'; }

# RS256, no kid: the verifier must pick the only RSA key.
header='{"alg":"RS256","typ":"JWT"}'
payload='{"iss":"https://issuer.example.org","sub":"fixture-client","aud":"https://medulla.example.org/fhir","iat":1700000000,"exp":1700003600,"jti":"rsa-fixture-1","scope":"system/*.read"}'
input="$(printf '%s' "$header" | b64url).$(printf '%s' "$payload" | b64url)"
printf '%s' "$input" | openssl dgst -sha256 -sign rsa-private.pem -out "$tmp/rsa.sig"
printf '%s.%s\n' "$input" "$(b64url < "$tmp/rsa.sig")" > rsa.jwt

# ES256 with kid = the RFC 7638 thumbprint, computed here from the SPKI's uncompressed point.
kid=$(python3 - "$tmp/ec-public.der" <<'PY'
import base64, hashlib, sys
der = open(sys.argv[1], "rb").read()
point = der[-65:]
assert point[0] == 4, "expected an uncompressed P-256 point"
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
canonical = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (b(point[1:33]), b(point[33:]))
print(b(hashlib.sha256(canonical.encode()).digest()), end="")
PY
)
header="{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"$kid\"}"
payload='{"iss":"https://issuer.example.org","sub":"fixture-client","aud":["other","https://medulla.example.org/fhir"],"iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"ec-fixture-1"}'
input="$(printf '%s' "$header" | b64url).$(printf '%s' "$payload" | b64url)"
printf '%s' "$input" | openssl dgst -sha256 -sign ec-private.pem -out "$tmp/ec.der-sig"
# openssl writes ECDSA signatures as DER SEQUENCE { INTEGER r, INTEGER s }; JWS wants the
# two integers as 32-byte big-endian numbers, concatenated (RFC 7518 §3.4).
sig=$(python3 - "$tmp/ec.der-sig" <<'PY'
import base64, sys
der = open(sys.argv[1], "rb").read()
def length(buf, i):
    n = buf[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    return int.from_bytes(buf[i + 1:i + 1 + k], "big"), i + 1 + k
assert der[0] == 0x30
_, i = length(der, 1)
ints = []
for _ in range(2):
    assert der[i] == 0x02
    n, i = length(der, i + 1)
    ints.append(int.from_bytes(der[i:i + n], "big"))
    i += n
assert i == len(der)
raw = b"".join(v.to_bytes(32, "big") for v in ints)
print(base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), end="")
PY
)
printf '%s.%s\n' "$input" "$sig" > ec.jwt
printf '%s\n' "$kid" > ec.kid
chmod 644 ./*.pem  # test data, not secrets
echo "fixtures written"
