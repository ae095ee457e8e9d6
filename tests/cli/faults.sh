#!/usr/bin/env bash
# Faults around a plain chat: a full disk (a file-size limit), a read-only
# folder and a closed pipe. Saving fails with a clear message and the
# previous transcript survives byte for byte; a closed pipe ends quietly.
source "$(dirname "$0")/../lib.sh"
plan 5

model=$(tiny_model llama q8_0) || { fail faults_synth; exit 0; }
export XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state XDG_CONFIG_HOME=$TMP/config
chat() { "$LM" chat --plain -m "$model" -n 6 --seed 1 -t 1 "$@"; }

# The transcript the faults below must leave alone: it has to exist first,
# or "unchanged" would compare two missing files.
printf 'hello\n/save %s\n' "$TMP/t.json" | chat >/dev/null 2>"$TMP/save.err"
rc=$?
if [ $rc -eq 0 ] && [ -s "$TMP/t.json" ] && grep -q '"content": *"hello"' "$TMP/t.json" &&
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/t.json" 2>/dev/null; then
    ok first_save_writes_transcript
else
    fail first_save_writes_transcript "exit $rc; $(ls -l "$TMP/t.json" 2>&1)" "$(tail -2 "$TMP/save.err")"
fi
before=$(md5sum <"$TMP/t.json" 2>/dev/null)
long=$(head -c 3000 /dev/zero | tr '\0' x)

# Full disk: with writes limited to 1 KiB the save must fail and say so.
out=$( (ulimit -f 1; printf 'hello\n%s\n/save %s\n' "$long" "$TMP/t.json" | chat 2>&1); echo "rc=$?")
after=$(md5sum <"$TMP/t.json")
if [ -n "$before" ] && [ "$before" = "$after" ] && grep -q "rc=[01]$" <<<"$out" &&
    grep -qF "$TMP/t.json: cannot write: File too large" <<<"$out"; then
    ok full_disk_save_fails_clearly_old_file_kept
else
    fail full_disk_save_fails_clearly_old_file_kept "$(tail -3 <<<"$out")"
fi
leftover=$(ls "$TMP" | grep -c '\.tmp')
[ "$leftover" -eq 0 ] && ok failed_save_leaves_no_temporary_file || fail failed_save_leaves_no_temporary_file "$(ls "$TMP")"

# Read-only folder (as a user who cannot write there; root writes anywhere).
mkdir -p "$TMP/ro"
cp "$TMP/t.json" "$TMP/ro/t.json"
chmod 555 "$TMP/ro"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 755 "$TMP" "$TMP/data" 2>/dev/null
    chmod -R a+rX "$TMP" && chmod 555 "$TMP/ro"
    as_user() { setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/nonexistent "$@"; }
    out=$(printf 'hello\n/save %s\n' "$TMP/ro/t.json" | as_user "$LM" chat --plain -m "$model" -n 4 --seed 1 -t 1 2>&1)
elif [ "$(id -u)" != 0 ]; then
    out=$(printf 'hello\n/save %s\n' "$TMP/ro/t.json" | chat 2>&1)
else
    out="(no way to drop root)"
fi
if [ -n "$before" ] && [ "$(md5sum <"$TMP/ro/t.json")" = "$before" ] &&
    grep -qF "$TMP/ro/t.json: cannot create a temporary file: Permission denied" <<<"$out"; then
    ok read_only_folder_save_fails_clearly
else
    fail read_only_folder_save_fails_clearly "$(tail -3 <<<"$out")"
fi
chmod 755 "$TMP/ro"

# A reader that goes away: plain mode ends quietly, nothing on stderr.
# It ends by SIGPIPE (141) or by itself (0); a crash is neither.
yes "tell me a story" | head -50 | chat -n 200 2>"$TMP/pipe.err" | head -c 20 >/dev/null
rc=${PIPESTATUS[2]}
if { [ "$rc" -eq 0 ] || [ "$rc" -eq 141 ]; } && ! grep -qv "^Loaded" "$TMP/pipe.err"; then
    ok closed_pipe_ends_quietly
else
    fail closed_pipe_ends_quietly "exit status $rc" "$(head -3 "$TMP/pipe.err")"
fi
