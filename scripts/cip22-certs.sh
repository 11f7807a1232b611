#!/usr/bin/env bash
# CIP-22 PKI with the openssl CLI only (OpenSSL >= 3.0): root CA, issuing CA, pile
# certificates (SM2 or ECDSA P-256, CN = device id) and the gateway's TLS server
# certificate. Used by the tests (test-set) and by field engineers for commissioning
# (docs/cip22-pki.md). Every CA is a directory holding key.pem, cert.pem, cert.der and a
# small `openssl ca` database, so dates can be set explicitly (-startdate/-enddate).
set -euo pipefail

SM2_ID=1234567812345678
# Signer ID in SM2 certificate signatures: the GB/T 32918 / GM/T 0015 default, or
# "openssl-default" to let OpenSSL pick (3.0 then uses an empty ID; `openssl verify`
# on 3.0 only accepts that kind, see docs/cip22-pki.md). AUTH signatures always use SM2_ID.
SM2_CERT_ID="${CIP22_SM2_CERT_ID:-$SM2_ID}"

usage() {
  cat <<'EOF'
Usage: cip22-certs.sh COMMAND [options]

Commands:
  root DIR      --alg sm2|p256 [--cn NAME] [--days N]
                Self-signed root CA (CA:TRUE, keyCertSign) in DIR.
  issuing DIR   --root ROOTDIR [--alg sm2|p256] [--cn NAME] [--days N]
                [--start T --end T] [--not-ca]
                Issuing CA signed by the root (pathlen 0). --not-ca issues it with
                CA:FALSE (only for negative tests).
  pile PREFIX   --ca CADIR --id DEVICE_ID [--alg sm2|p256] [--days N] [--start T --end T]
                Pile key and certificate: PREFIX.key.pem, PREFIX.pem, PREFIX.der.
                CN = DEVICE_ID. --alg defaults to the CA's algorithm.
  server PREFIX --ca CADIR --cn HOST [--san SAN] [--days N]
                Gateway TLS server certificate (P-256, serverAuth); SAN defaults to
                DNS:HOST (e.g. --san "DNS:gw.local,IP:10.0.0.2"). Also writes
                PREFIX.chain.pem (server + issuing CA): that is cip22.tls.cert, so piles
                that pin only the root can verify the gateway.
  revoke CERT   --ca CADIR
                Marks CERT (PEM, issued by CADIR) revoked in CADIR's database.
  crl OUT       --ca CADIR [--days N]
                Writes CADIR's CRL (PEM) to OUT: a file for cip22.crls.
  test-set DIR  Everything the tests need (valid SM2 and P-256 chains plus one certificate
                per failure case); see docs/cip22-pki.md for the list.

Environment: CIP22_SM2_CERT_ID=openssl-default signs SM2 certificates without an explicit
signer ID (OpenSSL's default), so that `openssl verify` 3.0 can check them.
Dates T are UTC, YYYYMMDDHHMMSSZ (e.g. 20250101000000Z); --start/--end override --days.
EOF
}

die() { echo "cip22-certs: $*" >&2; exit 2; }

check_alg() { case "$1" in sm2|p256|'') ;; *) die "unknown --alg '$1' (sm2 or p256)" ;; esac; }

ossl() { openssl "$@" 2>/dev/null || { openssl "$@" >/dev/null; die "openssl $1 failed"; }; }

new_key() { # alg file
  case "$1" in
    sm2) ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2 -out "$2" ;;
    p256) ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" ;;
    *) die "unknown --alg '$1' (sm2 or p256)" ;;
  esac
  chmod 600 "$2"
}

# Signing options for a key of the given algorithm: SM2 signs with SM3 and the GB/T
# 32918 default signer ID, written out because OpenSSL versions differ in the default.
sign_opts() {
  case "$1" in
    sm2) echo "-sm3 -sigopt distid:$SM2_ID" ;;
    p256) echo "-sha256" ;;
  esac
}

# The same for certificate signatures (honours CIP22_SM2_CERT_ID).
cert_sign_opts() {
  if [ "$1" = sm2 ] && [ "$SM2_CERT_ID" = openssl-default ]; then echo "-sm3"; return; fi
  if [ "$1" = sm2 ]; then echo "-sm3 -sigopt distid:$SM2_CERT_ID"; return; fi
  sign_opts "$1"
}

key_alg() { # keyfile -> sm2|p256
  if openssl pkey -in "$1" -noout -text 2>/dev/null | grep -q 'ASN1 OID: SM2'; then echo sm2; else echo p256; fi
}

write_ca_conf() { # dir
  local d="$1"
  mkdir -p "$d/issued"
  : >"$d/index.txt"
  echo "unique_subject = no" >"$d/index.txt.attr"
  openssl rand -hex 16 >"$d/serial"
  cat >"$d/ca.cnf" <<EOF
[ ca ]
default_ca = this_ca
[ this_ca ]
dir = $d
database = \$dir/index.txt
new_certs_dir = \$dir/issued
serial = \$dir/serial
certificate = \$dir/cert.pem
private_key = \$dir/key.pem
policy = policy_any
preserve = yes
copy_extensions = none
unique_subject = no
default_days = 365
default_crl_days = 30
default_md = sha256
[ policy_any ]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
countryName = optional
[ ext_issuing_ca ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_not_ca ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_pile ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_pile_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_pile_nosign ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyAgreement
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_pile_critical ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
1.3.6.1.4.1.55555.1 = critical,ASN1:NULL
[ ext_server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \${ENV::CIP22_SAN}
EOF
}

# issue CADIR KEYFILE SUBJECT EXT_SECTION OUT_PEM DAYS START END
issue() {
  local ca="$1" key="$2" subj="$3" ext="$4" out="$5" days="$6" start="$7" end="$8"
  local kalg calg csr="$out.csr"
  [ -f "$ca/ca.cnf" ] || die "$ca is not a CA directory (no ca.cnf)"
  kalg=$(key_alg "$key"); calg=$(key_alg "$ca/key.pem")
  # shellcheck disable=SC2046
  ossl req -new -key "$key" -subj "$subj" -out "$csr" $(sign_opts "$kalg")
  local dates=(-days "$days")
  if [ -n "$start" ] || [ -n "$end" ]; then
    [ -n "$start" ] && [ -n "$end" ] || die "--start and --end go together"
    dates=(-startdate "$start" -enddate "$end")
  fi
  local vfy=()
  [ "$kalg" = sm2 ] && vfy=(-vfyopt "distid:$SM2_ID")
  local md=(-md sha256)
  [ "$calg" = sm2 ] && md=(-md sm3 -sigopt "distid:$SM2_CERT_ID")
  [ "$calg" = sm2 ] && [ "$SM2_CERT_ID" = openssl-default ] && md=(-md sm3)
  CIP22_SAN="${CIP22_SAN:-DNS:unused}" ossl ca -batch -notext -config "$ca/ca.cnf" -extensions "$ext" \
    -in "$csr" -out "$out" "${dates[@]}" "${md[@]}" "${vfy[@]}"
  rm -f "$csr"
  ossl x509 -in "$out" -outform DER -out "${out%.pem}.der"
}

cmd_root() {
  local dir="$1"; shift
  local alg="" cn="CIP-22 Root CA" days=3650
  while [ $# -gt 0 ]; do
    case "$1" in
      --alg) alg="$2"; shift 2 ;; --cn) cn="$2"; shift 2 ;; --days) days="$2"; shift 2 ;;
      *) die "root: unknown option $1" ;;
    esac
  done
  [ -n "$alg" ] || die "root: --alg is required"
  check_alg "$alg"
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  new_key "$alg" "$dir/key.pem"
  write_ca_conf "$dir"
  # shellcheck disable=SC2046
  ossl req -x509 -new -key "$dir/key.pem" -subj "/O=CIP-22/CN=$cn" -days "$days" -out "$dir/cert.pem" \
    $(cert_sign_opts "$alg") -set_serial "0x$(openssl rand -hex 16)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
  ossl x509 -in "$dir/cert.pem" -outform DER -out "$dir/cert.der"
}

cmd_issuing() {
  local dir="$1"; shift
  local root="" alg="" cn="CIP-22 Issuing CA" days=1825 start="" end="" ext=ext_issuing_ca
  while [ $# -gt 0 ]; do
    case "$1" in
      --root) root="$2"; shift 2 ;; --alg) alg="$2"; shift 2 ;; --cn) cn="$2"; shift 2 ;;
      --days) days="$2"; shift 2 ;; --start) start="$2"; shift 2 ;; --end) end="$2"; shift 2 ;;
      --not-ca) ext=ext_not_ca; shift ;;
      *) die "issuing: unknown option $1" ;;
    esac
  done
  [ -n "$root" ] || die "issuing: --root is required"
  check_alg "$alg"
  root=$(cd "$root" && pwd)
  [ -n "$alg" ] || alg=$(key_alg "$root/key.pem")
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  new_key "$alg" "$dir/key.pem"
  write_ca_conf "$dir"
  issue "$root" "$dir/key.pem" "/O=CIP-22/CN=$cn" "$ext" "$dir/cert.pem" "$days" "$start" "$end"
}

cmd_pile() {
  local prefix="$1"; shift
  local ca="" id="" alg="" days=825 start="" end="" ext=ext_pile
  while [ $# -gt 0 ]; do
    case "$1" in
      --ca) ca="$2"; shift 2 ;; --id) id="$2"; shift 2 ;; --alg) alg="$2"; shift 2 ;;
      --days) days="$2"; shift 2 ;; --start) start="$2"; shift 2 ;; --end) end="$2"; shift 2 ;;
      --ext) ext="$2"; shift 2 ;; # negative tests only: ext_pile_ca, ext_pile_nosign, ext_pile_critical
      *) die "pile: unknown option $1" ;;
    esac
  done
  [ -n "$ca" ] && [ -n "$id" ] || die "pile: --ca and --id are required"
  check_alg "$alg"
  ca=$(cd "$ca" && pwd)
  [ -n "$alg" ] || alg=$(key_alg "$ca/key.pem")
  mkdir -p "$(dirname "$prefix")"
  new_key "$alg" "$prefix.key.pem"
  issue "$ca" "$prefix.key.pem" "/O=CIP-22/CN=$id" "$ext" "$prefix.pem" "$days" "$start" "$end"
}

cmd_server() {
  local prefix="$1"; shift
  local ca="" cn="" san="" days=825
  while [ $# -gt 0 ]; do
    case "$1" in
      --ca) ca="$2"; shift 2 ;; --cn) cn="$2"; shift 2 ;; --san) san="$2"; shift 2 ;;
      --days) days="$2"; shift 2 ;;
      *) die "server: unknown option $1" ;;
    esac
  done
  [ -n "$ca" ] && [ -n "$cn" ] || die "server: --ca and --cn are required"
  ca=$(cd "$ca" && pwd)
  mkdir -p "$(dirname "$prefix")"
  new_key p256 "$prefix.key.pem"
  CIP22_SAN="${san:-DNS:$cn}" issue "$ca" "$prefix.key.pem" "/O=CIP-22/CN=$cn" ext_server "$prefix.pem" "$days" "" ""
  cat "$prefix.pem" "$ca/cert.pem" >"$prefix.chain.pem"
}

cmd_revoke() {
  local cert="$1"; shift
  local ca=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --ca) ca="$2"; shift 2 ;;
      *) die "revoke: unknown option $1" ;;
    esac
  done
  [ -n "$ca" ] || die "revoke: --ca is required"
  CIP22_SAN=DNS:unused ossl ca -batch -config "$ca/ca.cnf" -revoke "$cert"
}

cmd_crl() {
  local out="$1"; shift
  local ca="" days=30
  while [ $# -gt 0 ]; do
    case "$1" in
      --ca) ca="$2"; shift 2 ;; --days) days="$2"; shift 2 ;;
      *) die "crl: unknown option $1" ;;
    esac
  done
  [ -n "$ca" ] || die "crl: --ca is required"
  local md=(-md sha256)
  [ "$(key_alg "$ca/key.pem")" = sm2 ] && md=(-md sm3 -sigopt "distid:$SM2_CERT_ID")
  CIP22_SAN=DNS:unused ossl ca -batch -config "$ca/ca.cnf" -gencrl -crldays "$days" "${md[@]}" -out "$out"
}

# The fixture set for test/helpers/cip22-pki.ts. Fixed far-past and far-future dates make
# the expired and not-yet-valid cases independent of the day the tests run.
cmd_test_set() {
  local d="$1"
  mkdir -p "$d"; d=$(cd "$d" && pwd)
  local past=(--start 20200101000000Z --end 20210101000000Z)
  local future=(--start 20450101000000Z --end 20460101000000Z)
  for alg in sm2 p256; do
    cmd_root "$d/$alg/root" --alg "$alg" --cn "CIP-22 Test Root $alg" --days 30
    cmd_issuing "$d/$alg/issuing" --root "$d/$alg/root" --cn "CIP-22 Test Issuing $alg" --days 30
    cmd_pile "$d/$alg/pile" --ca "$d/$alg/issuing" --id "pile-$alg-0001" --days 30
  done
  local s="$d/sm2"
  cmd_pile "$s/pile-expired" --ca "$s/issuing" --id pile-sm2-0001 "${past[@]}"
  cmd_pile "$s/pile-future" --ca "$s/issuing" --id pile-sm2-0001 "${future[@]}"
  cmd_issuing "$s/issuing-expired" --root "$s/root" --cn "CIP-22 Test Issuing sm2" "${past[@]}"
  cmd_pile "$s/pile-under-expired-ca" --ca "$s/issuing-expired" --id pile-sm2-0001 --days 30
  # Same issuer DN as the real issuing CA, another key: the signature link breaks.
  cmd_root "$d/rogue/root" --alg sm2 --cn "CIP-22 Test Root sm2" --days 30
  cmd_issuing "$d/rogue/issuing" --root "$d/rogue/root" --cn "CIP-22 Test Issuing sm2" --days 30
  cmd_pile "$d/rogue/pile" --ca "$d/rogue/issuing" --id pile-sm2-0001 --days 30
  # Another DN altogether.
  cmd_issuing "$d/other/issuing" --root "$s/root" --cn "CIP-22 Other Issuing" --days 30
  cmd_pile "$d/other/pile" --ca "$d/other/issuing" --id pile-sm2-0001 --days 30
  cmd_issuing "$s/issuing-not-ca" --root "$s/root" --cn "CIP-22 Test Not A CA" --not-ca --days 30
  cmd_pile "$s/pile-under-not-ca" --ca "$s/issuing-not-ca" --id pile-sm2-0001 --days 30
  # An SM2 chain signed the way plain `openssl ... -sm3` does it (no distid).
  (
    SM2_CERT_ID=openssl-default
    cmd_root "$d/sm2-noid/root" --alg sm2 --cn "CIP-22 Test Root sm2 noid" --days 30
    cmd_issuing "$d/sm2-noid/issuing" --root "$d/sm2-noid/root" --cn "CIP-22 Test Issuing sm2 noid" --days 30
    cmd_pile "$d/sm2-noid/pile" --ca "$d/sm2-noid/issuing" --id pile-sm2-0001 --days 30
  )
  cmd_server "$d/p256/server" --ca "$d/p256/issuing" --cn localhost --san "DNS:localhost,IP:127.0.0.1" --days 30
  # Certificate usage (each refused as a pile): CA:TRUE, a key usage without
  # digitalSignature, an unknown critical extension, issued directly by the root.
  cmd_pile "$s/pile-is-ca" --ca "$s/issuing" --id pile-sm2-0001 --days 30 --ext ext_pile_ca
  cmd_pile "$s/pile-nosign" --ca "$s/issuing" --id pile-sm2-0001 --days 30 --ext ext_pile_nosign
  cmd_pile "$s/pile-critical" --ca "$s/issuing" --id pile-sm2-0001 --days 30 --ext ext_pile_critical
  cmd_pile "$s/pile-under-root" --ca "$s/root" --id pile-sm2-0001 --days 30
  # A revoked pile and the issuing CA's CRL listing it.
  cmd_pile "$s/pile-revoked" --ca "$s/issuing" --id pile-sm2-0001 --days 30
  cmd_revoke "$s/pile-revoked.pem" --ca "$s/issuing"
  cmd_crl "$s/issuing/crl.pem" --ca "$s/issuing"
}

[ $# -ge 2 ] || { usage; [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] && exit 0; exit 2; }
command -v openssl >/dev/null || die "openssl not found"
cmd="$1"; shift
case "$cmd" in
  root) cmd_root "$@" ;;
  issuing) cmd_issuing "$@" ;;
  pile) cmd_pile "$@" ;;
  server) cmd_server "$@" ;;
  revoke) cmd_revoke "$@" ;;
  crl) cmd_crl "$@" ;;
  test-set) cmd_test_set "$@" ;;
  *) usage >&2; exit 2 ;;
esac
