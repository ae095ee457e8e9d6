#!/usr/bin/env bash
# The session and its front ends know an engine only through
# include/app/backend.h (issue 11): the session (session*.c, commands.c,
# choices.c), the chat (chat.c, chat.h), the full-screen chat (src/tui/) and
# the plain chat (src/cli/cli_chat.c) name no engine_*, gguf_* or synth_*
# symbol, and of the engine's headers they reach (directly or through the
# headers they include, as the compiler finds them with the include folders
# the Makefile gives their layer) only the option and setting types:
# model_options.h, quant.h, sampler.h. Nor do they reach catalog.h (GGUF
# headers and other tools' stores) or chat_request.h (engine requests). The
# checker is shown a file that breaks each rule first, so that a checker
# that sees nothing fails.
source "$(dirname "$0")/../lib.sh"
plan 10
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
HEADERS_SEEN="model_options.h quant.h sampler.h" # of include/infer/

# calls FILE...: the lines that name an engine_, gguf_ or synth_ symbol.
calls() { grep -nHE '\b(engine|gguf|synth)_[A-Za-z0-9_]+' "$@"; }

# flags FILE: the include folders of FILE's layer, as the Makefile has them.
flags() {
    local app="-Iinclude/base -Iinclude/infer -Iinclude/app"
    case $1 in
    src/app/* | */src/app/*) echo "$app" ;;
    src/tui/* | */src/tui/*) echo "$app -Iinclude/tui" ;;
    src/cli/* | */src/cli/*) echo "$app -Iinclude/serve -Iinclude/tui -Iinclude/cli" ;;
    *) echo "flags: no layer for $1" >&2 ;;
    esac
}

# headers FILE...: "FILE: HEADER" for each header FILE includes or reaches
# that it should not.
headers() {
    local f deps h
    for f in "$@"; do
        grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"([a-z]+/)?(engine|gguf|synth|model|tokenizer|catalog|chat_request)\.h"' "$f"
        case $f in *.c) ;; *) continue ;; esac
        # shellcheck disable=SC2046 # the flags are words
        if ! deps=$(cd "$ROOT" && "$CC" -MM -MG -D_GNU_SOURCE $(flags "$f") "$f" 2>&1); then
            echo "$f: $CC -MM failed: $deps"
            continue
        fi
        deps=${deps//\\/} # the line continuations
        for h in $(tr ' ' '\n' <<<"$deps" | sort -u); do
            case $h in
            include/infer/*) [[ " $HEADERS_SEEN " == *" ${h#include/infer/} "* ]] ||
                echo "$f: reaches $h" ;;
            include/app/catalog.h | include/app/chat_request.h) echo "$f: reaches $h" ;;
            esac
        done
    done
    return 0
}

# expect_clean NAME KIND FILE...: ok when KIND (calls, headers) finds nothing.
expect_clean() {
    local name=$1 kind=$2 found lines
    shift 2
    found=$("$kind" "$@")
    if [ -z "$found" ]; then
        ok "$name"
    else
        mapfile -t lines <<<"$found"
        fail "$name" "${lines[@]}"
    fi
}

# ---- the checker sees what it is there to see ----
mkdir -p "$TMP/src/app"
bad=$TMP/src/app/bad.c
printf '#include "session.h"\n#include "gguf.h"\n#include "chat_request.h"\n' >"$bad"
printf 'void f(void) { engine_free(0); }\n' >>"$bad"
found=$(calls "$bad")
if grep -q 'engine_free' <<<"$found"; then ok layers_checker_sees_calls; else
    fail layers_checker_sees_calls "calls found nothing in: $(cat "$bad")"; fi
found=$(cd "$ROOT" && headers "$bad")
if grep -q 'include "gguf.h"' <<<"$found" && grep -q 'reaches include/infer/engine.h' <<<"$found" &&
    grep -q 'reaches include/app/chat_request.h' <<<"$found" &&
    ! grep -q 'model_options.h' <<<"$found"; then
    ok layers_checker_sees_headers
else
    fail layers_checker_sees_headers "headers found: ${found:-nothing}"
fi

# ---- the tree ----
cd "$ROOT" || exit 1
session=(src/app/session*.c src/app/session_impl.h src/app/commands.c src/app/choices.c
    include/app/session.h)
chat=(src/app/chat.c include/app/chat.h)
tui=(src/tui/*.c src/tui/*.h include/tui/*.h)
plain=(src/cli/cli_chat.c)

expect_clean layers_session_no_engine_calls calls "${session[@]}"
expect_clean layers_session_no_engine_headers headers "${session[@]}"
expect_clean layers_chat_no_engine_calls calls "${chat[@]}"
expect_clean layers_chat_no_engine_headers headers "${chat[@]}"
expect_clean layers_tui_no_engine_calls calls "${tui[@]}"
expect_clean layers_tui_no_engine_headers headers "${tui[@]}"
expect_clean layers_plain_chat_no_engine_calls calls "${plain[@]}"
expect_clean layers_plain_chat_no_engine_headers headers "${plain[@]}"
