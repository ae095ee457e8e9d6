# Shared by tests/e2e/*.sh: drives lmterm in a private tmux server.
#
#   start_shell COLS ROWS    a clean bash in a detached session
#   type_text TEXT, keys KEY...   send-keys, literally or as key names
#   screen                   the pane as text (screen -e: with attributes)
#   wait_for REGEX [SECS]    until the pane matches (polls, no fixed sleeps)
#   wait_gone REGEX [SECS]   until it no longer does
#   wait_idle [SECS]         until the status bar says idle
#   compare_screen NAME      the pane against tests/e2e/expected/NAME.txt
#
# Everything runs under $TMP (lib.sh): HOME, the XDG folders, the models.
# Set LMTERM_E2E_UPDATE=1 to rewrite the expected screens.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOCK="lmterm-e2e-$$"
E2E_HOME="$TMP/home"
# lmterm may still write its history as tmux goes down: try again
trap 'tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$TMP" 2>/dev/null ||
      { sleep 0.5; rm -rf "$TMP"; }' EXIT

# require_tmux NAME: skip the whole script (visibly) without tmux.
require_tmux() {
    if ! command -v tmux >/dev/null 2>&1; then
        skip_all "$1" "tmux is not installed"
    fi
}

t() { tmux -L "$SOCK" "$@"; }

now_ms() { date +%s%3N; }

start_shell() {
    mkdir -p "$E2E_HOME"
    printf 'set -g status off\nset -g default-terminal tmux-256color\nset -g escape-time 0\n' \
        >"$TMP/tmux.conf"
    t -f "$TMP/tmux.conf" new-session -d -s e2e -x "$1" -y "$2" \
        env -i HOME="$E2E_HOME" PATH="$PATH" LANG=C.UTF-8 TERM=tmux-256color \
        XDG_CACHE_HOME="$E2E_HOME/cache" XDG_STATE_HOME="$E2E_HOME/state" \
        XDG_DATA_HOME="$E2E_HOME/data" XDG_CONFIG_HOME="$E2E_HOME/config" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        PS1='shell$ ' bash --norc --noprofile
    wait_for '^shell\$' 10
}

type_text() { t send-keys -t e2e -l -- "$1"; }
keys() { t send-keys -t e2e "$@"; }
screen() { t capture-pane -p -t e2e "$@"; }
resize() { t resize-window -t e2e -x "$1" -y "$2"; }

# Starts lmterm from the shell with the given arguments. (Tests pass -s ""
# so that a configured default system prompt does not change their screens.)
run_lmterm() {
    type_text "$(printf '%q ' "$LM" "$@")"
    keys Enter
}

wait_for() {
    local deadline=$(($(now_ms) + ${2:-15} * 1000))
    while ! screen | grep -qE -- "$1"; do
        [ "$(now_ms)" -gt "$deadline" ] && return 1
        sleep 0.05
    done
}

wait_gone() {
    local deadline=$(($(now_ms) + ${2:-15} * 1000))
    while screen | grep -qE -- "$1"; do
        [ "$(now_ms)" -gt "$deadline" ] && return 1
        sleep 0.05
    done
}

status_line() { screen | tail -n 1; }
title_line() { screen | head -n 1; }

wait_idle() {
    local deadline=$(($(now_ms) + ${1:-30} * 1000))
    while ! status_line | grep -qE '^ idle'; do
        [ "$(now_ms)" -gt "$deadline" ] && return 1
        sleep 0.05
    done
}

# long_reply [FIRST]: sends messages until one gets a reply still being
# written after 2 seconds. A random model may end a reply at any point;
# with --temp 0 each attempt is repeatable, and one of several rambles on.
long_reply() {
    local topic
    for topic in "${1:-a long story}" "the sea" "mountains" "a city at night" "old machines"; do
        type_text "Tell me about $topic"
        keys Enter
        wait_for '^ (reading|generating)' 15 || continue
        sleep 2
        status_line | grep -q '^ generating' && return 0
        wait_idle 30
    done
    return 1
}

# The pane once it stops changing (a redraw after a resize has finished).
settled_screen() {
    local a b deadline=$(($(now_ms) + 5000))
    a=$(screen)
    while :; do
        sleep 0.2
        b=$(screen)
        [ "$a" = "$b" ] || [ "$(now_ms)" -gt "$deadline" ] && break
        a=$b
    done
    printf '%s\n' "$b"
}

# The lines of the pane wider than COLS columns (there should be none).
too_wide() {
    local cols=$1
    while IFS= read -r line; do
        w=$(printf '%s' "$line" | LC_ALL=C.UTF-8 wc -L)
        [ "$w" -gt "$cols" ] && echo "$w: $line"
    done
    return 0
}

# What changes from run to run becomes '#': speeds and memory, and the
# status bar, whose segments come and go with the width of those numbers.
mask_numbers() {
    sed -E 's/[0-9]+(\.[0-9]+)? (tok\/s|KiB|MiB|GiB|B)/# \2/g' | sed -E '$s/│.*/│ #/'
}

compare_screen() {
    local name=$1 expected="$E2E_DIR/expected/$1.txt" got="$TMP/$1.txt"
    settled_screen | mask_numbers >"$got"
    if [ "${LMTERM_E2E_UPDATE:-}" = 1 ]; then
        cp "$got" "$expected"
        return 0
    fi
    if [ ! -f "$expected" ]; then
        echo "    no expected screen $expected"
        return 1
    fi
    diff -u "$expected" "$got" | sed 's/^/    /'
    cmp -s "$expected" "$got"
}

# check_screen NAME REGEX [SECS]: ok when the pane comes to match, else
# FAIL with the pane.
check_screen() {
    if wait_for "$2" "${3:-15}"; then
        ok "$1"
    else
        fail "$1" "the screen never matched /$2/:"
        screen | sed 's/^/    | /'
    fi
}

# quit_lmterm: /quit, then the shell prompt must be back.
quit_lmterm() {
    keys C-u
    type_text "/quit"
    keys Enter
    wait_for '^shell\$ *$' 10
}
