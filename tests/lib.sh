# Shared by the shell tests: each check prints "ok NAME", "FAIL NAME" or
# "skip NAME: why"; tests/run.sh counts them.
#
# Every script declares how many of those lines it prints, before its first
# check, so that an early exit (a crash, a deadlock cut short, an `exit` in
# the wrong place) cannot pass for a short, green script:
#
#     plan 12                      # this script prints 12 ok/FAIL/skip lines
#     plan $((3 + ${#models[@]}))  # a count that depends on the data: compute it
#     skip_all NAME "why"          # the whole script does not apply here: one
#                                  # skip line, and the plan no longer holds
#
# tests/run.sh fails a script that prints no "plan N" line, or fewer result
# lines than planned ("FAIL script.sh: planned 12 checks, reported 9").
# Printing more than planned is also a FAIL: fix the number. A check that
# is skipped still prints its line (skip NAME: why) and counts. To give a
# new script its plan, count its lines on a passing run and add the line
# after the one that sources lib.sh (or tmux_lib.bash):
#
#     n=$(bash tests/cli/X.sh | grep -cE '^(ok|FAIL|skip) '); sed -i "0,/lib\.\(sh\|bash\)\"\$/s//&\nplan $n/" tests/cli/X.sh
#
# and turn an early `{ skip NAME "why"; exit 0; }` into `skip_all NAME "why"`.
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
plan() { echo "plan $1"; }
# skip_all NAME WHY: the script stops here, on purpose, with one skip line.
skip_all() {
    echo "skip $1: $2"
    echo "plan skipped"
    exit 0
}
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

# logits_malformed FILE N_VOCAB: why FILE is not N_VOCAB finite numbers, one
# a line (nothing when it is).
logits_malformed() {
    awk -v want="$2" '
        !/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ { bad = NR ": " $0; exit }
        END {
            if (bad != "") print "line " bad
            else if (NR != want) print NR " lines, want " want
        }' "$1"
}

# True when the binary under test was built with AddressSanitizer.
is_sanitized() { nm "$LM" 2>/dev/null | grep -q __asan_init; }
