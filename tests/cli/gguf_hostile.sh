#!/usr/bin/env bash
# Hostile model files through the command line: every damaged file must give
# exactly one line "lmterm: FILE: ... (at byte N)" on stderr and exit status 1.
source "$(dirname "$0")/../lib.sh"
plan 4

model=$(tiny_model phi3 q4_0) || { fail synth_tiny_model; exit 0; }
size=$(stat -c %s "$model")

expect_one_line_error() { # FILE -> 0 when lmterm answers as it should
    local f=$1 out rc
    out=$("$LM" info -m "$f" 2>&1 >/dev/null)
    rc=$?
    [ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
        [[ "$out" == "lmterm: "* ]] && return 0
    echo "    $f: exit $rc, stderr: $(printf '%s' "$out" | head -3)"
    return 1
}

# Truncations: inside the header, the metadata, the directory and the data.
bad=0
for cut in 0 3 4 7 8 15 16 23 24 40 100 1000 5000 20000 $((size / 2)) $((size - 1000)) $((size - 1)); do
    [ "$cut" -lt "$size" ] || continue
    head -c "$cut" "$model" >"$TMP/cut.gguf"
    expect_one_line_error "$TMP/cut.gguf" || bad=$((bad + 1))
done
[ $bad -eq 0 ] && ok truncated_files_give_one_line || fail truncated_files_give_one_line "$bad cuts misbehaved"

# Byte flips in the header and directory: must never crash (exit 0 or 1 only).
crashes=0
for pos in 0 1 4 5 8 9 12 16 17 20 24 30 40 60 100 200 400 800 1600 3200; do
    for pattern in ff 80 01; do
        cp "$model" "$TMP/flip.gguf"
        orig=$(od -An -tx1 -j "$pos" -N1 "$model" | tr -d ' ')
        printf "\\x$(printf %02x $((0x$orig ^ 0x$pattern)))" |
            dd of="$TMP/flip.gguf" bs=1 seek="$pos" conv=notrunc status=none
        "$LM" info -m "$TMP/flip.gguf" >/dev/null 2>"$TMP/err"
        rc=$?
        if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then crashes=$((crashes + 1)); echo "    byte $pos ^ $pattern: exit $rc"; fi
        if [ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -ne 1 ]; then crashes=$((crashes + 1)); echo "    byte $pos ^ $pattern: $(head -2 "$TMP/err")"; fi
    done
done
[ $crashes -eq 0 ] && ok flipped_bytes_never_crash || fail flipped_bytes_never_crash "$crashes bad answers"

# Not a GGUF at all, an empty file, a folder, a missing file.
printf 'hello world, not a model' >"$TMP/text.gguf"
: >"$TMP/empty.gguf"
mkdir -p "$TMP/dir.gguf"
all=0
for f in "$TMP/text.gguf" "$TMP/empty.gguf" "$TMP/dir.gguf" "$TMP/missing.gguf"; do
    expect_one_line_error "$f" || all=1
done
[ $all -eq 0 ] && ok non_models_give_one_line || fail non_models_give_one_line

# The message names the file and the byte.
head -c 30 "$model" >"$TMP/short.gguf"
msg=$("$LM" info -m "$TMP/short.gguf" 2>&1 >/dev/null)
[[ "$msg" == *"short.gguf"*"(at byte "* ]] && ok error_names_file_and_byte || fail error_names_file_and_byte "$msg"
