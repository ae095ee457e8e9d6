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
fi

# Does a program installed there find its data? lmterm cannot say yet (see
# the report: a `--version` line naming the data folder would do), so a small
# probe built on config_data_dir() is installed beside it and asked, with the
# environment that could mislead it cleared.
cat >"$TMP/probe.c" <<'EOF'
#include "config.h"
#include "theme.h"
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
/* the one function config.c needs from the model module */
int model_precision_from_name(const char *name) {
    static const char *n[] = {"native", "fp32", "fp16", "int8", "int4"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(name, n[i]) == 0) return i;
    return -1;
}
int main(void) {
    config c;
    lm_error err;
    int rc = config_load(&c, NULL, &err);
    printf("data: %s\n", c.data_dir ? c.data_dir : "(none)");
    printf("config: %s\n", rc == 0 ? "ok" : err.msg);
    char **names;
    size_t n = theme_list(c.data_dir, &names);
    for (size_t i = 0; i < n; i++) {
        theme t;
        if (theme_load(&t, names[i], c.data_dir, NULL, &err) == 0) printf("theme: %s\n", names[i]);
        else printf("theme error: %s\n", err.msg);
    }
    theme_list_free(names, n);
    config_free(&c);
    return 0;
}
EOF
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -I"$ROOT/include" -o "$TMP/probe" "$TMP/probe.c" \
    "$ROOT"/src/{config,config_yaml,theme,util,sampler}.c -lyaml -lm 2>"$TMP/cc.log"; then
    fail installed_probe_builds "$(head -5 "$TMP/cc.log")"
else
    install -m 755 "$TMP/probe" "$INST/bin/lmterm-probe"
    mkdir -p "$TMP/home"
    probe() { env -u LMTERM_DATADIR -u XDG_CONFIG_HOME HOME="$TMP/home" "$@"; }
    out=$(probe "$INST/bin/lmterm-probe")
    want=$(cd "$INST/share/lmterm" && pwd -P)
    if grep -qx "data: $want" <<<"$out" && grep -qx "config: ok" <<<"$out"; then
        ok installed_program_finds_its_data
    else
        fail installed_program_finds_its_data "$out"
    fi
    n=$(grep -c "^theme: " <<<"$out")
    if [ "$n" -eq "$(ls "$ROOT"/themes/*.yaml | wc -l)" ] && ! grep -q "^theme error" <<<"$out"; then
        ok installed_themes_load
    else
        fail installed_themes_load "$out"
    fi
    # moved away from its share folder, it no longer finds one
    mkdir -p "$TMP/elsewhere/bin"
    cp "$TMP/probe" "$TMP/elsewhere/bin/"
    out=$(probe "$TMP/elsewhere/bin/probe")
    grep -qx "data: (none)" <<<"$out" && ok moved_program_finds_no_data || fail moved_program_finds_no_data "$out"
    rm -f "$INST/bin/lmterm-probe"
fi

if make -s -C "$ROOT" uninstall DESTDIR="$DEST" PREFIX=$PREFIX >"$TMP/make.log" 2>&1; then
    left=$(find "$DEST" -type f)
    [ -z "$left" ] && ok make_uninstall || fail make_uninstall "left behind: $left"
else
    fail make_uninstall "$(tail -5 "$TMP/make.log")"
fi
