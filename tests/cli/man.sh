#!/usr/bin/env bash
# The manual page: groff finds nothing to warn about, man renders it, and it
# names what the program has: every option (of `lmterm --help` and of the
# option table in src/cli.c), every command of the command table in
# src/main.c, every slash command and setting the plain chat's /help and
# /set list, every key of the help screen and of the default configuration,
# every configuration key, theme and theme element, every environment
# variable the sources read, the quantize types, the synth shapes and the
# bench JSON fields; and the exit statuses it states are the program's.
source "$(dirname "$0")/../lib.sh"
plan 23
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAGE=${LMTERM_MAN:-$ROOT/man/lmterm.1}
SRC=$ROOT/src

# No user configuration, history or transcripts of the person running this.
export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/config" XDG_DATA_HOME="$TMP/data"
export XDG_STATE_HOME="$TMP/state" XDG_CACHE_HOME="$TMP/cache"
unset LMTERM_KERNELS NO_COLOR

# The page's source as plain words: "\-\-top\-k" becomes "--top-k".
words="$TMP/page.txt"
sed -e 's/\\-/-/g' -e 's/\\(ti/~/g' -e 's/\\f[BIRP]//g' "$PAGE" >"$words"

# has WORD: the page names it
has() { grep -qF -- "$1" "$words"; }

# has_word WORD: the page names it as a word ("Ctrl-R" is not in "Ctrl-Right")
has_word() { grep -qwF -- "$1" "$words"; }

# has_entry WORD: the page has an item (.B, .BR, .BI line) that starts with it
has_entry() { grep -qE -- "^\.(B|BR|BI) \"?$(sed 's/[][\.*^$/]/\\&/g' <<<"$1")( |\"|$)" "$words"; }

# has_short C: the page names the option -C as a word of its own
has_short() { grep -qE -- "(^|[^-[:alnum:]])-$1([^-[:alnum:]]|$)" "$words"; }

# missing CHECK ITEM...: the items CHECK fails for, on one line
missing() {
    local check=$1 out=""
    shift
    for w in "$@"; do "$check" "$w" || out="$out $w"; done
    echo "${out# }"
}

# expect NAME MIN MISSING N: ok when N items were found (at least MIN) and none is missing
expect() {
    local name=$1 min=$2 m=$3 n=$4
    if [ "$n" -ge "$min" ] && [ -z "$m" ]; then
        ok "$name"
    else
        fail "$name" "items found: $n (expected at least $min); not in the page: $m"
    fi
}

# ---- the page as a page ----

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

sections=(NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS KEYS "SLASH COMMANDS" CONFIGURATION
    THEMES FILES ENVIRONMENT "EXIT STATUS" EXAMPLES)
m=""
for s in "${sections[@]}"; do grep -qE "^\.SH \"?$s\"?$" "$PAGE" || m="$m [$s]"; done
expect man_has_every_section ${#sections[@]} "$m" ${#sections[@]}

# ---- options ----

if help=$("$LM" --help 2>&1); then
    mapfile -t opts < <(grep -oE -- '--[a-z][a-z-]*' <<<"$help" | sort -u)
    expect man_names_every_option 20 "$(missing has_word "${opts[@]}")" ${#opts[@]}
    mapfile -t cmds < <(sed -n 's/^  lmterm \([a-z]\+\).*/lmterm \1/p' <<<"$help" | sort -u)
    expect man_names_every_command 6 "$(missing has "${cmds[@]}")" ${#cmds[@]}
else
    help=""
    skip man_names_every_option "no lmterm binary at $LM"
    skip man_names_every_command "no lmterm binary at $LM"
fi

if [ -f "$SRC/cli/cli.c" ]; then
    mapfile -t longs < <(grep -oE '\{"[a-z][a-z-]*", (no|required|optional)_argument' "$SRC/cli/cli.c" |
        sed -E 's/^\{"([^"]+)".*/--\1/' | sort -u)
    expect man_names_every_long_option_of_cli_c 20 "$(missing has_word "${longs[@]}")" ${#longs[@]}
    shorts=$(grep -oE 'getopt_long\([^"]*"[^"]+"' "$SRC/cli/cli.c" | sed -E 's/.*"([^"]+)"$/\1/' | tr -d ':')
    mapfile -t shortv < <(grep -o . <<<"$shorts")
    expect man_names_every_short_option 8 "$(missing has_short "${shortv[@]}")" ${#shortv[@]}
else
    skip man_names_every_long_option_of_cli_c "no sources at $SRC"
    skip man_names_every_short_option "no sources at $SRC"
fi

# ---- commands ----

if [ -f "$SRC/cli/main.c" ]; then
    mapfile -t table < <(grep -oE '\{"[a-z]+", cli_[a-z_]+\}' "$SRC/cli/main.c" | sed -E 's/^\{"([a-z]+)".*/\1/')
    m=""
    for c in "${table[@]}"; do
        { has "lmterm $c" && has_entry "$c"; } || m="$m $c"
    done
    expect man_describes_every_command_of_the_table 8 "${m# }" ${#table[@]}
    # and --help lists the same commands as the table
    if [ -n "${help:-}" ]; then
        listed=$(sed -n 's/^  lmterm \([a-z]\+\).*/\1/p' <<<"$help" | sort -u | tr '\n' ' ')
        m=""
        for c in "${table[@]}"; do grep -qw "$c" <<<"$listed" || m="$m $c"; done
        if [ -z "$m" ]; then
            ok man_help_lists_the_command_table
        else
            fail man_help_lists_the_command_table "in the table, not in --help:$m"
        fi
    fi
else
    skip man_describes_every_command_of_the_table "no sources at $SRC"
fi

# ---- slash commands and settings, as the plain chat lists them ----

if M=$(tiny_model llama q8_0) && [ -n "$M" ]; then
    printf '/help\n/set\n' | "$LM" chat --plain -m "$M" -t 1 >"$TMP/chat.out" 2>"$TMP/chat.err"
    mapfile -t slash < <(sed -n 's/^  \(\/[a-z]\+\)\( .*\)\?$/\1/p' "$TMP/chat.out")
    expect man_describes_every_slash_command 11 "$(missing has_entry "${slash[@]}")" ${#slash[@]}
    # the --flags in the commands' arguments ("/system [TEXT|--preset NAME|--clear]")
    mapfile -t flags < <(sed -n 's/^  \/[a-z]\+ \(\[[^]]*\]\).*/\1/p' "$TMP/chat.out" |
        grep -oE -- '--[a-z]+' | sort -u)
    expect man_names_every_slash_command_flag 2 "$(missing has "${flags[@]}")" ${#flags[@]}
    # /set alone: "temp 0.8, top-k 40, ..., context auto (4096)"
    set_line=$(grep -E '^temp ' "$TMP/chat.out" | head -1)
    mapfile -t settings < <(tr ',' '\n' <<<"$set_line" | awk 'NF { print $1 }')
    expect man_names_every_setting 9 "$(missing has_word "${settings[@]}")" ${#settings[@]}
else
    skip man_describes_every_slash_command "lmterm synth failed"
fi

# ---- keys ----

if [ -f "$SRC/tui/tui_help.c" ]; then
    # the fixed keys of the help screen: {"Up, Down", "..."} ...
    mapfile -t keys < <(sed -n '/^static const help_item keys_/,/^};/p' "$SRC/tui/tui_help.c" |
        grep -oE '^ *\{"[^"]+", "' | sed -E 's/^ *\{"([^"]+)".*/\1/' |
        sed 's/, /\n/g' | grep -E '^[A-Z]' | sort -u)
    expect man_names_every_key_of_the_help_screen 10 "$(missing has_word "${keys[@]}")" ${#keys[@]}
else
    skip man_names_every_key_of_the_help_screen "no sources at $SRC"
fi

# the default bindings: "  stop: [Esc, Ctrl-C]   # ..."
mapfile -t bound < <(sed -n '/^keys:/,/^[^ #]/p' "$ROOT/config/lmterm.yaml" |
    sed -n 's/^ \+[a-z_]\+: *\([^#]*\).*/\1/p' | tr -d '[]' | sed 's/, */\n/g' |
    sed 's/ *$//' | grep . | sort -u)
m=""
for k in "${bound[@]}"; do grep -qE -- "^\.BR? (.*[ \"])?$k([ \",]|$)" "$words" || m="$m $k"; done
expect man_has_a_key_item_for_every_default_binding 9 "${m# }" ${#bound[@]}

# ---- configuration and themes ----

# every key of config/lmterm.yaml, nested ones included
mapfile -t ckeys < <(sed -n 's/^ *\([a-z_]\+\):.*/\1/p' "$ROOT/config/lmterm.yaml" | sort -u)
expect man_names_every_config_key 20 "$(missing has_word "${ckeys[@]}")" ${#ckeys[@]}

themes=()
for f in "$ROOT"/themes/*.yaml; do themes+=("$(basename "$f" .yaml)"); done
expect man_names_every_theme 5 "$(missing has_word "${themes[@]}")" ${#themes[@]}

mapfile -t elements < <(sed -n 's/^ *\([a-z_]\+\):.*/\1/p' "$ROOT/themes/default.yaml" | sort -u)
expect man_names_every_theme_key 14 "$(missing has_word "${elements[@]}")" ${#elements[@]}

# ---- environment ----

envs=(NO_COLOR LMTERM_DATADIR XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME XDG_CACHE_HOME HOME TERM)
if [ -d "$SRC" ]; then
    mapfile -t -O ${#envs[@]} envs < <(grep -ohE 'getenv\("[A-Za-z_]+"\)|"XDG_[A-Z_]+"' "$SRC"/*/*.c |
        grep -oE '[A-Z][A-Za-z_]+' | grep -v '^getenv$' | sort -u)
fi
m=""
for e in "${envs[@]}"; do grep -qE -- "^\.B $e$" "$words" || m="$m $e"; done
expect man_describes_every_environment_variable 10 "${m# }" ${#envs[@]}

# ---- quantize, synth, bench ----

if [ -d "$SRC" ]; then
    mapfile -t qtypes < <(grep -oE '\{"[a-z0-9_]+", QT_' "$SRC/cli/cli_quantize.c" | sed -E 's/^\{"([^"]+)".*/\1/')
    expect man_names_every_quantize_type 10 "$(missing has_word "${qtypes[@]}")" ${#qtypes[@]}
    mapfile -t shapes < <(grep -oE '\{"[a-z0-9-]+", [0-9]+' "$SRC/infer/synth.c" | sed -E 's/^\{"([^"]+)".*/\1/' | sort -u)
    expect man_names_every_synth_shape 4 "$(missing has_word "${shapes[@]}")" ${#shapes[@]}
    mapfile -t fields < <(grep -oE '\\"[a-z_]+\\":' "$SRC/cli/cli_bench.c" | tr -d '\\":' | sort -u)
    expect man_names_every_bench_json_field 19 "$(missing has_word "${fields[@]}")" ${#fields[@]}
else
    skip man_names_every_quantize_type "no sources at $SRC"
    skip man_names_every_synth_shape "no sources at $SRC"
    skip man_names_every_bench_json_field "no sources at $SRC"
fi

# ---- exit statuses ----

if [ -x "$LM" ]; then
    "$LM" no-such-command >/dev/null 2>"$TMP/err"
    rc_usage=$?
    "$LM" --no-such-option >/dev/null 2>>"$TMP/err"
    rc_option=$?
    "$LM" run -m "$TMP/no-such-model.gguf" -p hello >/dev/null 2>"$TMP/err1"
    rc_error=$?
    if [ $rc_usage -eq 2 ] && [ $rc_option -eq 2 ] && [ $rc_error -eq 1 ] &&
        [ "$(wc -l <"$TMP/err1")" -eq 1 ] && grep -q '^lmterm: ' "$TMP/err1"; then
        ok man_exit_statuses_hold
    else
        fail man_exit_statuses_hold "unknown command: $rc_usage, unknown option: $rc_option (want 2);" \
            "run on a missing model: $rc_error (want 1), stderr: $(cat "$TMP/err1")"
    fi
else
    skip man_exit_statuses_hold "no lmterm binary at $LM"
fi
status=$(sed -n '/^\.SH "\?EXIT STATUS"\?$/,/^\.SH [^E]/p' "$PAGE")
m=""
for s in 0 1 2; do grep -qE "^\.B $s$" <<<"$status" || m="$m $s"; done
expect man_states_every_exit_status 3 "${m# }" 3
