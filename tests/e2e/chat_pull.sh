#!/usr/bin/env bash
# Models from elsewhere in the full-screen chat: F2 lists a fake ollama store
# and Hugging Face cache, a chat runs on the ollama blob; F2 -> Download a
# model -> another repository from the stand-in hub -> the progress row and
# the status bar show it going -> it loads when done -> a reply. Esc in the
# download menu stops a download.
. "$(dirname "$0")/tmux_lib.bash"
. "$(dirname "$0")/../tools/hub_lib.bash"
. "$(dirname "$0")/../tools/fake_stores.bash"
trap 'tmux -L "$SOCK" kill-server 2>/dev/null; hub_cleanup' EXIT
require_tmux e2e_pull
command -v python3 >/dev/null || skip_all e2e_pull "python3 missing"
CONF=$(conformance_dir) || skip_all e2e_pull "no conformance models"
plan 10
M=$CONF/models
mkdir -p "$E2E_HOME"
make_fake_stores "$E2E_HOME" "$E2E_HOME/cache" "$M" >/dev/null
hub_start --repo "test/phi3-GGUF=$M/phi3-e256-Q4_K_M.gguf" --repo "test/slow-GGUF=$M/llama3-e32-F16.gguf" \
    --rate 1500000 || { fail e2e_pull_server; exit 0; }
start_shell 120 34 || { fail e2e_pull_shell "no shell prompt in tmux"; exit 0; }
type_text "export HF_ENDPOINT=$HUB_URL"
keys Enter
keys C-l
run_lmterm -t 1 -n 8 -s "" --temp 0
wait_for 'Loaded ' 30 || { fail e2e_pull_start "$(screen)"; exit 0; }
screen | grep -q "Download a model" && ok e2e_pull_demo_hint_names_menu ||
    fail e2e_pull_demo_hint_names_menu "$(screen)"

chat_once() {
    type_text "$1"
    keys Enter
    wait_for "^  $1\$" 15 || return 1
    wait_idle 60 || return 1
    local deadline=$(($(now_ms) + 10000))
    until screen | sed -n "/^  $1\$/,\$p" | grep -qE '^Assistant  [0-9]+ tokens?'; do
        [ "$(now_ms)" -gt "$deadline" ] && return 1
        sleep 0.1
    done
}

# ---- F2 lists the stores; a chat on the ollama blob ----
keys F2
if wait_for 'ollama: phi3:latest' 10 && screen | grep -q 'hf-org/cached-GGUF llama3-e32-Q4_0.gguf' &&
    screen | grep -q 'Download a model'; then
    ok e2e_pull_f2_lists_stores
else
    fail e2e_pull_f2_lists_stores "$(screen)"
fi
# the rows: the demo model (selected), then the found ones: ollama's first
keys Down
keys Enter
if wait_for 'Loaded phi3-e64' 30 && chat_once "Hello ollama"; then
    ok e2e_pull_chat_on_ollama_blob
else
    fail e2e_pull_chat_on_ollama_blob "$(screen)"
fi

# ---- F2 -> Download a model -> another repository ----
keys F2
wait_for 'Download a model' 10
keys End Enter
wait_for 'Another repository' 10 || { fail e2e_pull_download_menu "$(screen)"; exit 0; }
screen | grep -q 'Llama 3.2 1B Instruct' && ok e2e_pull_download_menu_lists_models ||
    fail e2e_pull_download_menu_lists_models "$(screen)"
keys End Enter
type_text "test/phi3-GGUF"
keys Enter
if wait_for 'Downloading phi3-e256-Q4_K_M.gguf +[0-9]+%' 15; then
    ok e2e_pull_progress_row
else
    fail e2e_pull_progress_row "$(screen)"
    exit 0
fi
status_line | grep -q 'downloading phi3-e256-Q4_K_M.gguf [0-9]*%' && ok e2e_pull_status_bar ||
    fail e2e_pull_status_bar "$(status_line)"
keys F2 # the menu closes; the chat stays usable while it downloads
if wait_for 'Loaded phi3-e256' 60 && chat_once "Hello pulled"; then
    ok e2e_pull_loads_when_done_and_replies
else
    fail e2e_pull_loads_when_done_and_replies "$(screen)"
fi
f=$E2E_HOME/data/lmterm/models/phi3-e256-Q4_K_M.gguf
[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(sha256sum <"$M/phi3-e256-Q4_K_M.gguf" | cut -d' ' -f1)" ] &&
    ok e2e_pull_file_matches || fail e2e_pull_file_matches "$(ls -la "$(dirname "$f")")"

# ---- Esc in the download menu stops a download ----
keys F2
wait_for 'Download a model' 10
keys End Enter
wait_for 'Another repository' 10
keys End Enter
type_text "test/slow-GGUF"
keys Enter
wait_for 'Downloading llama3-e32-F16.gguf +[0-9]+%' 15
keys Escape
if wait_for 'Download of llama3-e32-F16.gguf stopped' 10 &&
    [ -s "$E2E_HOME/data/lmterm/models/llama3-e32-F16.gguf.part" ]; then
    ok e2e_pull_esc_stops_download
else
    fail e2e_pull_esc_stops_download "$(screen)"
fi
keys Escape
# ---- a repository the hub does not have: one line in the chat ----
keys F2
wait_for 'Download a model' 10
keys End Enter
wait_for 'Another repository' 10
keys End Enter
type_text "test/nothing-here"
keys Enter
if wait_for 'Download failed: repository test/nothing-here not found on' 15; then
    ok e2e_pull_missing_repo_notice
else
    fail e2e_pull_missing_repo_notice "$(screen)"
fi
keys Escape
keys C-d
wait_for "^shell\\$" 10 || true
