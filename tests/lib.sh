# Shared by the shell tests: each check prints "ok NAME", "FAIL NAME" or
# "skip NAME: why"; tests/run.sh counts them.
: "${LMTERM_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lmterm}"
LM=$LMTERM_BIN
TMP=$(mktemp -d /tmp/lmterm-sh.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

ok() { echo "ok   $1"; }
fail() {
    echo "FAIL $1"
    shift
    for line in "$@"; do echo "    $line"; done
}
skip() { echo "skip $1: $2"; }
# check NAME COMMAND...: ok when the command succeeds
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name" "command failed: $*"; fi
}

conformance_dir() {
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    for d in "${LMTERM_CONFORMANCE:-}" "$here/../shared/conformance"; do
        [ -n "$d" ] && [ -d "$d/models" ] && { echo "$d"; return 0; }
    done
    return 1
}

# A tiny synthetic model, made once per test script.
tiny_model() {
    local arch=${1:-phi3} type=${2:-q8_0} f="$TMP/tiny-$1-$2.gguf"
    [ -f "$f" ] || "$LM" synth --arch "$arch" --shape tiny --type "$type" -o "$f" >/dev/null || return 1
    echo "$f"
}

# True when the binary under test was built with AddressSanitizer.
is_sanitized() { nm "$LM" 2>/dev/null | grep -q __asan_init; }
