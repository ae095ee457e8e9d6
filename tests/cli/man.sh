#!/usr/bin/env bash
# The manual page: groff finds nothing to warn about, man renders it, and it
# names every long option and command of `lmterm --help`, every key of the
# default configuration and every installed theme.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAGE=$ROOT/man/lmterm.1

# The page's source as plain words: "\-\-top\-k" becomes "--top-k".
words="$TMP/page.txt"
sed -e 's/\\-/-/g' -e 's/\\(ti/~/g' "$PAGE" >"$words"

# has WORD: the page names it
has() { grep -qF -- "$1" "$words"; }

# missing LIST...: the items of LIST the page does not name, on one line
missing() {
    local out=""
    for w in "$@"; do has "$w" || out="$out $w"; done
    echo "${out# }"
}

if command -v groff >/dev/null; then
    warnings=$(groff -man -ww -z "$PAGE" 2>&1)
    [ -z "$warnings" ] && ok man_groff_no_warnings || fail man_groff_no_warnings "$warnings"
else
    skip man_groff_no_warnings "groff is not installed"
fi

if command -v man >/dev/null; then
    out=$(MANWIDTH=80 man -l "$PAGE" 2>"$TMP/err")
    if [ $? -eq 0 ] && [ ! -s "$TMP/err" ] && grep -q "^SYNOPSIS" <<<"$out"; then
        ok man_renders
    else
        fail man_renders "$(head -5 "$TMP/err")"
    fi
else
    skip man_renders "man is not installed"
fi

if help=$("$LM" --help 2>&1); then
    mapfile -t opts < <(grep -oE -- '--[a-z][a-z-]*' <<<"$help" | sort -u)
    m=$(missing "${opts[@]}")
    [ -z "$m" ] && ok man_names_every_option || fail man_names_every_option "not in the page: $m"
    mapfile -t cmds < <(sed -n 's/^  lmterm \([a-z]\+\).*/lmterm \1/p' <<<"$help" | sort -u)
    m=$(missing "${cmds[@]}")
    [ ${#cmds[@]} -gt 5 ] && [ -z "$m" ] && ok man_names_every_command ||
        fail man_names_every_command "commands found: ${#cmds[@]}; not in the page: $m"
else
    skip man_names_every_option "no lmterm binary at $LM"
fi

# every key of config/lmterm.yaml, nested ones included
mapfile -t keys < <(sed -n 's/^ *\([a-z_]\+\):.*/\1/p' "$ROOT/config/lmterm.yaml" | sort -u)
m=$(missing "${keys[@]}")
[ ${#keys[@]} -gt 20 ] && [ -z "$m" ] && ok man_names_every_config_key ||
    fail man_names_every_config_key "keys found: ${#keys[@]}; not in the page: $m"

themes=()
for f in "$ROOT"/themes/*.yaml; do themes+=("$(basename "$f" .yaml)"); done
m=$(missing "${themes[@]}")
[ -z "$m" ] && ok man_names_every_theme || fail man_names_every_theme "not in the page: $m"

# the slash commands the issues reserve
m=$(missing /help /system /model /precision /save /load /clear /regen /edit /set /quit)
[ -z "$m" ] && ok man_names_every_slash_command || fail man_names_every_slash_command "not in the page: $m"

# the environment variables the program reads
m=$(missing NO_COLOR LMTERM_DATADIR XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME XDG_CACHE_HOME HOME TERM)
[ -z "$m" ] && ok man_names_environment || fail man_names_environment "not in the page: $m"
