#!/usr/bin/env bash
# HTTPS to a remote server: certificates are verified. A self-signed
# server is refused with one line, unless its certificate is named by
# SSL_CERT_FILE or CURL_CA_BUNDLE; a trusted certificate for another name is
# refused too. The server is tests/tools/openai_stub.py on 127.0.0.1.
. "$(dirname "$0")/../lib.sh"
plan 5

command -v python3 >/dev/null || skip_all remote_tls "python3 is not installed"
command -v openssl >/dev/null || skip_all remote_tls "openssl is not installed"
export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/config" XDG_STATE_HOME="$TMP/state"
unset CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR
STUB="$(dirname "$0")/../tools/openai_stub.py"

# cert NAME SUBJECT_ALT_NAME: a self-signed pair $TMP/NAME.{crt,key}
cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=lmterm test" \
        -addext "subjectAltName=$2" -keyout "$TMP/$1.key" -out "$TMP/$1.crt" >/dev/null 2>&1
}
cert ip IP:127.0.0.1 && cert other DNS:example.invalid || skip_all remote_tls "openssl could not make a certificate"

PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
# start NAME: an HTTPS stub with that pair; its base URL in $URL
start() {
    local pf="$TMP/$1.port"
    python3 "$STUB" --port-file "$pf" --lifetime 120 --tls "$TMP/$1.crt" "$TMP/$1.key" &
    PIDS="$PIDS $!"
    for _ in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
    URL="https://127.0.0.1:$(cat "$pf")/v1"
}
start ip
IP=$URL
start other
OTHER=$URL

out=$(timeout 20 "$LM" run --remote "$IP" -m stub-echo -p Hello 2>"$TMP/err")
rc=$?
if [ $rc -eq 1 ] && [ -z "$out" ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] &&
    grep -q "TLS error with 127.0.0.1" "$TMP/err" && grep -qi "certificate" "$TMP/err" && grep -q "SSL_CERT_FILE" "$TMP/err"; then
    ok tls_self_signed_refused
else fail tls_self_signed_refused "exit $rc" "$out" "$(cat "$TMP/err")"; fi

out=$(SSL_CERT_FILE="$TMP/ip.crt" timeout 20 "$LM" run --remote "$IP" -m stub-echo -p Hello 2>"$TMP/err")
rc=$?
if [ $rc -eq 0 ] && grep -q "You said: Hello" <<<"$out"; then ok tls_trusted_by_ssl_cert_file
else fail tls_trusted_by_ssl_cert_file "exit $rc" "$out" "$(cat "$TMP/err")"; fi

out=$(CURL_CA_BUNDLE="$TMP/ip.crt" timeout 20 "$LM" run --remote "$IP" -m stub-echo -p Hello 2>"$TMP/err")
rc=$?
if [ $rc -eq 0 ] && grep -q "You said: Hello" <<<"$out"; then ok tls_trusted_by_curl_ca_bundle
else fail tls_trusted_by_curl_ca_bundle "exit $rc" "$out" "$(cat "$TMP/err")"; fi

# trusted, but issued for another name than the one connected to
out=$(SSL_CERT_FILE="$TMP/other.crt" timeout 20 "$LM" run --remote "$OTHER" -m stub-echo -p Hello 2>"$TMP/err")
rc=$?
if [ $rc -eq 1 ] && [ -z "$out" ] && grep -q "TLS error with 127.0.0.1" "$TMP/err"; then
    ok tls_wrong_name_refused
else fail tls_wrong_name_refused "exit $rc" "$out" "$(cat "$TMP/err")"; fi

# the plain chat says the same and keeps going to the end of its input
out=$(printf 'Hello\n' | timeout 20 "$LM" chat --plain --remote "$IP" -m stub-echo 2>"$TMP/err")
rc=$?
if [ $rc -eq 1 ] && grep -q "TLS error with 127.0.0.1" "$TMP/err"; then ok tls_plain_chat_refused
else fail tls_plain_chat_refused "exit $rc" "$out" "$(cat "$TMP/err")"; fi
