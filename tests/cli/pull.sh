#!/usr/bin/env bash
# lmterm pull against the stand-in hub on 127.0.0.1: a complete pull with a
# matching hash, resume after a dropped connection, corruption, a gated repo,
# a missing repo or quant, no server, Ctrl-C, a full disk, a changed file.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../tools/hub_lib.bash"
command -v python3 >/dev/null || skip_all pull "python3 missing"
CONF=$(conformance_dir) || skip_all pull "no conformance models"
plan 28
M=$CONF/models
Q4=$M/phi3-e256-Q4_K_M.gguf
REPO_FILES="$Q4,$M/phi3-e256-Q3_K_M.gguf,$M/phi3-e64-Q8_0.gguf"
export HOME=$TMP/home XDG_DATA_HOME=$TMP/data XDG_CONFIG_HOME=$TMP/config XDG_CACHE_HOME=$TMP/cache
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HOME
mkdir -p "$HOME"
DEST=$XDG_DATA_HOME/lmterm/models
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- a whole pull, through a redirect to another host name ----
hub_start --repo "test/phi3-GGUF=$REPO_FILES" --mode redirect || { fail pull_server; exit 1; }
export HF_ENDPOINT=$HUB_URL
out=$("$LM" pull test/phi3-GGUF 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$(sha "$DEST/phi3-e256-Q4_K_M.gguf")" = "$(sha "$Q4")" ] &&
    [ ! -e "$DEST/phi3-e256-Q4_K_M.gguf.part" ] && grep -q "architecture:   phi3" <<<"$out"; then
    ok pull_default_quant_hash_matches
else
    fail pull_default_quant_hash_matches "rc=$rc" "$out"
fi
grep -q "GET /cdn/test/phi3-GGUF/resolve/main/phi3-e256-Q4_K_M.gguf" "$HUB_LOG" &&
    ok pull_follows_redirect || fail pull_follows_redirect "$(cat "$HUB_LOG")"
[ "$(grep -cE '^phi3-e256-Q4_K_M.gguf: [0-9]+% \(' <<<"$out")" -eq 11 ] && grep -q ": 100% (" <<<"$out" &&
    ok pull_progress_lines_without_terminal ||
    fail pull_progress_lines_without_terminal "$out"
out=$("$LM" pull test/phi3-GGUF 2>&1)
grep -q "is there already" <<<"$out" && ok pull_again_is_a_no_op || fail pull_again_is_a_no_op "$out"
out=$("$LM" pull test/phi3-GGUF:q3_k 2>&1)
[ "$(sha "$DEST/phi3-e256-Q3_K_M.gguf" 2>/dev/null)" = "$(sha "$M/phi3-e256-Q3_K_M.gguf")" ] &&
    ok pull_quant_substring || fail pull_quant_substring "$out"
out=$("$LM" pull test/phi3-GGUF phi3-e64-Q8_0.gguf 2>&1)
[ -f "$DEST/phi3-e64-Q8_0.gguf" ] && ok pull_repo_file || fail pull_repo_file "$out"

# ---- 404s: one line naming what exists ----
out=$("$LM" pull test/phi3-GGUF:IQ2_XS 2>&1)
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <<<"$out" | tr -d ' ')" -le 2 ] &&
    grep -q "no file of test/phi3-GGUF matches 'IQ2_XS'; it has: .*phi3-e256-Q3_K_M.gguf" <<<"$out"; then
    ok pull_missing_quant_lists_files
else
    fail pull_missing_quant_lists_files "rc=$rc" "$out"
fi
out=$("$LM" pull test/nothing-here 2>&1)
grep -q "repository test/nothing-here not found on $HUB_URL" <<<"$out" &&
    ok pull_missing_repo || fail pull_missing_repo "$out"
out=$("$LM" pull test/phi3-GGUF missing.gguf 2>&1)
grep -q "test/phi3-GGUF has no file missing.gguf; it has: " <<<"$out" &&
    ok pull_missing_file || fail pull_missing_file "$out"
out=$("$LM" pull --revision v9 test/phi3-GGUF 2>&1)
grep -q "no revision" <<<"$out" && grep -q "tree/v9" "$HUB_LOG" &&
    ok pull_unknown_revision || fail pull_unknown_revision "$out"
hub_stop

# ---- a dropped connection, then a resume with a Range request ----
rm -rf "$DEST"
hub_start --repo "test/phi3-GGUF=$REPO_FILES" --mode drop40 --rev v1
export HF_ENDPOINT=$HUB_URL
out=$("$LM" pull --revision v1 test/phi3-GGUF 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ -s "$DEST/phi3-e256-Q4_K_M.gguf.part" ] && [ ! -e "$DEST/phi3-e256-Q4_K_M.gguf" ] &&
    grep -q "run the same command to resume" <<<"$out"; then
    ok pull_drop_keeps_part
else
    fail pull_drop_keeps_part "rc=$rc" "$out"
fi
out=$("$LM" pull --revision v1 test/phi3-GGUF 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$(sha "$DEST/phi3-e256-Q4_K_M.gguf")" = "$(sha "$Q4")" ] &&
    grep -q "resolve/v1/phi3-e256-Q4_K_M.gguf range=bytes=[1-9][0-9]*- " "$HUB_LOG" &&
    grep -q "resumed" <<<"$out"; then
    ok pull_resumes_with_range
else
    fail pull_resumes_with_range "rc=$rc" "$out" "$(cat "$HUB_LOG")"
fi
hub_stop

# ---- a part of another version of the file starts over ----
rm -rf "$DEST"
mkdir -p "$DEST"
head -c 100000 "$M/phi3-e256-Q3_K_M.gguf" >"$DEST/phi3-e256-Q4_K_M.gguf.part"
printf '{"repo":"test/phi3-GGUF","file":"phi3-e256-Q4_K_M.gguf","size":1,"sha256":"00","etag":""}\n' \
    >"$DEST/phi3-e256-Q4_K_M.gguf.part.meta"
hub_start --repo "test/phi3-GGUF=$REPO_FILES"
export HF_ENDPOINT=$HUB_URL
out=$("$LM" pull test/phi3-GGUF 2>&1)
[ "$(sha "$DEST/phi3-e256-Q4_K_M.gguf" 2>/dev/null)" = "$(sha "$Q4")" ] && ! grep -q "range=bytes" "$HUB_LOG" &&
    ok pull_changed_file_starts_over || fail pull_changed_file_starts_over "$out" "$(cat "$HUB_LOG")"

# ---- not enough room: refused before starting; a full disk keeps the part ----
: >"$HUB_LOG"
rm -rf "$DEST"
out=$(LMTERM_TEST_DISK_FREE=1000 "$LM" pull test/phi3-GGUF 2>&1)
grep -q "not enough disk space for phi3-e256-Q4_K_M.gguf" <<<"$out" && ! grep -q resolve "$HUB_LOG" &&
    [ ! -e "$DEST/phi3-e256-Q4_K_M.gguf.part" ] &&
    ok pull_checks_free_space || fail pull_checks_free_space "$out"
out=$(ulimit -f 4096; "$LM" pull test/phi3-GGUF 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "the disk is full" <<<"$out" && [ -s "$DEST/phi3-e256-Q4_K_M.gguf.part" ]; then
    ok pull_full_disk_keeps_part
else
    fail pull_full_disk_keeps_part "rc=$rc" "$out"
fi
out=$("$LM" pull test/phi3-GGUF 2>&1)
[ "$(sha "$DEST/phi3-e256-Q4_K_M.gguf" 2>/dev/null)" = "$(sha "$Q4")" ] &&
    ok pull_resumes_after_full_disk || fail pull_resumes_after_full_disk "$out"
hub_stop

# ---- a corrupted byte: nothing installed, the part removed ----
rm -rf "$DEST"
hub_start --repo "test/phi3-GGUF=$REPO_FILES" --mode corrupt
export HF_ENDPOINT=$HUB_URL
out=$("$LM" pull test/phi3-GGUF 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "is corrupt" <<<"$out" && [ ! -e "$DEST/phi3-e256-Q4_K_M.gguf" ] &&
    [ ! -e "$DEST/phi3-e256-Q4_K_M.gguf.part" ]; then
    ok pull_corruption_refused
else
    fail pull_corruption_refused "rc=$rc" "$out" "$(ls -la "$DEST" 2>&1)"
fi
hub_stop

# ---- a gated repository: the message; the token goes to the hub, not the CDN ----
rm -rf "$DEST"
hub_start --repo "meta/Llama-GGUF=$Q4" --mode gated --mode redirect --token hf_sekrit
export HF_ENDPOINT=$HUB_URL
out=$("$LM" pull meta/Llama-GGUF 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "meta/Llama-GGUF is gated (HTTP 401): accept its licence at $HUB_URL/meta/Llama-GGUF, then set HF_TOKEN" <<<"$out"; then
    ok pull_gated_message
else
    fail pull_gated_message "rc=$rc" "$out"
fi
out=$(HF_TOKEN=hf_wrong "$LM" pull meta/Llama-GGUF 2>&1)
grep -q "your Hugging Face token has no access" <<<"$out" && ! grep -q hf_wrong <<<"$out" &&
    ok pull_gated_wrong_token || fail pull_gated_wrong_token "$out"
mkdir -p "$XDG_CACHE_HOME/huggingface"
echo hf_sekrit >"$XDG_CACHE_HOME/huggingface/token"
out=$("$LM" pull meta/Llama-GGUF 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q "GET /meta/Llama-GGUF/resolve/main/phi3-e256-Q4_K_M.gguf range=- auth=yes" "$HUB_LOG" &&
    grep -q "GET /cdn/meta/Llama-GGUF/resolve/main/phi3-e256-Q4_K_M.gguf range=- auth=no" "$HUB_LOG"; then
    ok pull_token_file_and_no_token_to_cdn
else
    fail pull_token_file_and_no_token_to_cdn "rc=$rc" "$out" "$(cat "$HUB_LOG")"
fi
rm -f "$XDG_CACHE_HOME/huggingface/token"
hub_stop

# ---- Ctrl-C: stops cleanly, keeps the part, the same command resumes ----
rm -rf "$DEST"
hub_start --repo "test/phi3-GGUF=$REPO_FILES" --rate 2000000
export HF_ENDPOINT=$HUB_URL
"$LM" pull test/phi3-GGUF >"$TMP/int.out" 2>&1 &
pid=$!
for i in $(seq 50); do
    [ -s "$DEST/phi3-e256-Q4_K_M.gguf.part" ] && break
    sleep 0.1
done
sleep 0.5
out=$("$LM" pull test/phi3-GGUF 2>&1)
grep -q "phi3-e256-Q4_K_M.gguf is being downloaded by another lmterm already" <<<"$out" &&
    ok pull_one_at_a_time_per_file || fail pull_one_at_a_time_per_file "$out"
t0=$(date +%s.%N)
kill -INT $pid
wait $pid
rc=$?
t1=$(date +%s.%N)
out=$(cat "$TMP/int.out")
if [ $rc -eq 130 ] && grep -q "resume with the same command" <<<"$out" &&
    [ -s "$DEST/phi3-e256-Q4_K_M.gguf.part" ] && awk "BEGIN{exit !($t1-$t0 < 1.5)}"; then
    ok pull_ctrl_c_stops_cleanly
else
    fail pull_ctrl_c_stops_cleanly "rc=$rc" "$out"
fi
hub_stop
hub_start --repo "test/phi3-GGUF=$REPO_FILES"
export HF_ENDPOINT=$HUB_URL
out=$("$LM" pull test/phi3-GGUF 2>&1)
[ "$(sha "$DEST/phi3-e256-Q4_K_M.gguf" 2>/dev/null)" = "$(sha "$Q4")" ] && grep -q "range=bytes=" "$HUB_LOG" &&
    ok pull_resumes_after_ctrl_c || fail pull_resumes_after_ctrl_c "$out"
hub_stop

# ---- no server: one line, within the connect timeout ----
export HF_ENDPOINT=http://127.0.0.1:$(closed_port)
t0=$(date +%s)
out=$("$LM" pull test/phi3-GGUF 2>&1)
rc=$?
t1=$(date +%s)
if [ $rc -eq 1 ] && [ $((t1 - t0)) -le 10 ] && [ "$(grep -c '^lmterm:' <<<"$out")" -eq 1 ] &&
    grep -q "cannot connect to 127.0.0.1:[0-9]*: Connection refused" <<<"$out"; then
    ok pull_no_server_one_line
else
    fail pull_no_server_one_line "rc=$rc" "$out"
fi
out=$("$LM" pull not-a-repo 2>&1)
[ $? -eq 1 ] && grep -q "is not a repository name" <<<"$out" && ok pull_bad_name || fail pull_bad_name "$out"

# ---- a part whose ETag no longer matches the server's starts over ----
rm -rf "$DEST"
hub_start --repo "test/phi3-GGUF=$REPO_FILES" --mode drop40
export HF_ENDPOINT=$HUB_URL
"$LM" pull test/phi3-GGUF >/dev/null 2>&1
python3 - "$DEST/phi3-e256-Q4_K_M.gguf.part.meta" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["etag"], m
m["etag"] = '"an-older-version"'
json.dump(m, open(sys.argv[1], "w"))
PY
: >"$HUB_LOG"
out=$("$LM" pull test/phi3-GGUF 2>&1)
if [ "$(sha "$DEST/phi3-e256-Q4_K_M.gguf" 2>/dev/null)" = "$(sha "$Q4")" ] &&
    grep -q "range=bytes=" "$HUB_LOG" && grep -q "phi3-e256-Q4_K_M.gguf range=- " "$HUB_LOG"; then
    ok pull_changed_etag_starts_over
else
    fail pull_changed_etag_starts_over "$out" "$(cat "$HUB_LOG")" "$(cat "$DEST"/*.meta 2>&1)"
fi
hub_stop

# ---- on a terminal: one bar, redrawn at most 10 times a second ----
if command -v script >/dev/null; then
    rm -rf "$DEST"
    hub_start --repo "test/phi3-GGUF=$REPO_FILES" --rate 5000000
    export HF_ENDPOINT=$HUB_URL
    t0=$(date +%s.%N)
    script -qec "$LM pull test/phi3-GGUF" /dev/null >"$TMP/tty.out" 2>&1
    t1=$(date +%s.%N)
    draws=$(grep -o 'MB/s' "$TMP/tty.out" | wc -l)
    secs=$(awk "BEGIN{print $t1-$t0}")
    if grep -q $'\r' "$TMP/tty.out" && grep -q "100.0%  12.9/12.9 MB" "$TMP/tty.out" &&
        grep -q "ETA" "$TMP/tty.out" && awk "BEGIN{exit !($draws >= 3 && $draws <= 10*$secs + 3)}"; then
        ok pull_terminal_bar_rate_limited
    else
        fail pull_terminal_bar_rate_limited "draws=$draws in $secs s" "$(tr '\r' '\n' <"$TMP/tty.out" | head -20)"
    fi
    hub_stop
else
    skip pull_terminal_bar_rate_limited "no script(1)"
fi

# ---- a file of an architecture lmterm does not run: kept, said so ----
rm -rf "$DEST"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read().replace(b"phi3",b"qwen"); open(sys.argv[2],"wb").write(d)' \
    "$M/phi3-e64-Q4_0.gguf" "$TMP/qwen-Q4_0.gguf"
hub_start --repo "test/qwen-GGUF=$TMP/qwen-Q4_0.gguf"
export HF_ENDPOINT=$HUB_URL
out=$("$LM" pull test/qwen-GGUF 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -f "$DEST/qwen-Q4_0.gguf" ] && grep -q "the file is kept, but lmterm cannot run it" <<<"$out" &&
    ok pull_unsupported_kept || fail pull_unsupported_kept "rc=$rc" "$out"
hub_stop
