#!/usr/bin/env bash
# `make install DESTDIR=... PREFIX=/usr/local` puts the binary, the manual,
# the themes and the default configuration where the installed program finds
# them; `make uninstall` takes them away again.
#
# Under `make check` the nested make gets the same SAN=/BUILD= through
# MAKEFLAGS, so it installs the binary just built and rebuilds nothing.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=$TMP/dest
PREFIX=/usr/local
INST=$DEST$PREFIX
THEMES=("$ROOT"/themes/*.yaml)
if command -v tmux >/dev/null; then plan $((6 + ${#THEMES[@]})); else plan 7; fi

if ! make -s -C "$ROOT" install DESTDIR="$DEST" PREFIX=$PREFIX >"$TMP/make.log" 2>&1; then
    fail make_install "$(tail -5 "$TMP/make.log")"
    exit 0
fi
ok make_install

out=$("$INST/bin/lmterm" --version 2>&1)
[[ $out == "lmterm "* ]] && ok installed_binary_runs || fail installed_binary_runs "$out"

m=""
for f in share/man/man1/lmterm.1 share/lmterm/config/lmterm.yaml; do
    [ -f "$INST/$f" ] || m="$m $f"
done
for f in "$ROOT"/themes/*.yaml; do
    [ -f "$INST/share/lmterm/themes/$(basename "$f")" ] || m="$m themes/$(basename "$f")"
done
[ -z "$m" ] && ok installed_files_in_place || fail installed_files_in_place "missing:$m"

if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$INST/share/man/man1/lmterm.1" 2>/dev/null | grep -q "^SYNOPSIS" &&
        ok installed_man_page_renders || fail installed_man_page_renders
else
    skip installed_man_page_renders "man is not installed"
fi

# The installed program finds its own data: `--version` names the folder it
# reads themes and the default configuration from. The environment that could
# point it elsewhere is cleared.
clean_env() { env -u LMTERM_DATADIR -u XDG_CONFIG_HOME -u XDG_DATA_HOME HOME="$TMP/home" "$@"; }
mkdir -p "$TMP/home"
out=$(clean_env "$INST/bin/lmterm" --version)
want=$(cd "$INST/share/lmterm" && pwd -P)
grep -qx "data: $want" <<<"$out" && ok installed_program_finds_its_data ||
    fail installed_program_finds_its_data "$out" "want data: $want"

# and its themes load: the full-screen chat, started with each installed theme
# chosen in a configuration, says nothing of a missing theme.
model=$(tiny_model llama q8_0)
if command -v tmux >/dev/null; then
    for t in "${THEMES[@]}"; do
        name=$(basename "$t" .yaml)
        echo "theme: $name" >"$TMP/theme.yaml"
        sock="lmterm-install-$$"
        tmux -L "$sock" new-session -d -x 100 -y 20 \
            "env -u LMTERM_DATADIR -u XDG_CONFIG_HOME HOME=$TMP/home $INST/bin/lmterm -m $model --config $TMP/theme.yaml -t 1"
        screen=""
        for _ in $(seq 1 100); do
            screen=$(tmux -L "$sock" capture-pane -p 2>/dev/null)
            grep -q "Loaded" <<<"$screen" && break
            sleep 0.1
        done
        tmux -L "$sock" kill-server 2>/dev/null
        if grep -q "Loaded" <<<"$screen" && ! grep -q "not found" <<<"$screen"; then
            ok "installed_theme_$name"
        else
            fail "installed_theme_$name" "$screen"
        fi
    done
else
    skip installed_themes "tmux not installed"
fi

if make -s -C "$ROOT" uninstall DESTDIR="$DEST" PREFIX=$PREFIX >"$TMP/make.log" 2>&1; then
    left=$(find "$DEST" -type f)
    [ -z "$left" ] && ok make_uninstall || fail make_uninstall "left behind: $left"
else
    fail make_uninstall "$(tail -5 "$TMP/make.log")"
fi
