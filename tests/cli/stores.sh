#!/usr/bin/env bash
# lmterm ls: pulled models and the stores of other tools (a fake ollama store,
# Hugging Face cache and llama.cpp cache in a temporary HOME); an unreadable
# entry is skipped with one notice; a model runs on the ollama blob in place.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../tools/fake_stores.bash"
CONF=$(conformance_dir) || skip_all stores "no conformance models"
plan 15
export HOME=$TMP/home XDG_DATA_HOME=$TMP/data XDG_CONFIG_HOME=$TMP/config XDG_CACHE_HOME=$TMP/cache
unset OLLAMA_MODELS HF_HOME HF_HUB_CACHE HUGGINGFACE_HUB_CACHE LLAMA_CACHE
mkdir -p "$HOME" "$XDG_DATA_HOME/lmterm/models"
blob=$(make_fake_stores "$HOME" "$XDG_CACHE_HOME" "$CONF/models")
cp "$CONF/models/phi3-e64-Q4_0.gguf" "$XDG_DATA_HOME/lmterm/models/pulled-phi3.gguf"

out=$("$LM" ls 2>&1)
check_line() { # NAME REGEX
    if grep -qE -- "$2" <<<"$out"; then ok "$1"; else fail "$1" "no line matching $2 in:" "$out"; fi
}
check_line ls_ollama "^ollama: phi3:latest +.*phi3 +Q8_0 .*/\.ollama/models/blobs/sha256-"
check_line ls_hf_cache "^hf-org/cached-GGUF llama3-e32-Q4_0.gguf +.* llama +Q4_0"
check_line ls_llama_cpp_cache "^llama.cpp: org_repo_llama32-e32-tied-Q8_0 +.* llama +Q8_0"
check_line ls_pulled "^pulled-phi3 +.*phi3 +Q4_0"
n=$(grep -c "skipped 1 unreadable model store entry" <<<"$out")
[ "$n" -eq 1 ] && ok ls_unreadable_one_notice || fail ls_unreadable_one_notice "$out"
[ "$(grep -c pulled-phi3 <<<"$out")" -eq 1 ] && ok ls_pulled_once || fail ls_pulled_once "$out"

# Variables move the stores.
mv "$HOME/.ollama/models" "$TMP/ollama-elsewhere"
mv "$XDG_CACHE_HOME/huggingface/hub" "$TMP/hf-elsewhere"
out=$(OLLAMA_MODELS=$TMP/ollama-elsewhere HF_HUB_CACHE=$TMP/hf-elsewhere "$LM" ls 2>&1)
check_line ls_ollama_models_variable "^ollama: phi3:latest .*ollama-elsewhere/blobs/"
check_line ls_hf_hub_cache_variable "^hf-org/cached-GGUF llama3-e32-Q4_0.gguf .*hf-elsewhere/"
out=$(OLLAMA_MODELS=$TMP/none HF_HUB_CACHE=$TMP/none LLAMA_CACHE=$TMP/none "$LM" ls 2>&1)
! grep -q "ollama:\|hf-org\|llama.cpp:" <<<"$out" && ok ls_stores_absent || fail ls_stores_absent "$out"
mv "$TMP/ollama-elsewhere" "$HOME/.ollama/models"
mv "$TMP/hf-elsewhere" "$XDG_CACHE_HOME/huggingface/hub"

# A model runs on the ollama blob where it is, read-only.
chmod a-w "$blob"
before=$(find "$TMP" -type f | wc -l)
out=$("$LM" run -m "$blob" -p "Hello" -n 4 --temp 0 -t 1 2>&1)
rc=$?
after=$(find "$TMP" -type f | wc -l)
[ $rc -eq 0 ] && [ "$before" -eq "$after" ] && ok run_on_ollama_blob || fail run_on_ollama_blob "rc=$rc" "$out"

# A file of an architecture lmterm does not run is listed, marked.
python3 -c 'import sys; d=open(sys.argv[1],"rb").read().replace(b"phi3",b"qwen"); open(sys.argv[2],"wb").write(d)' \
    "$CONF/models/phi3-e64-Q4_0.gguf" "$XDG_DATA_HOME/lmterm/models/other-arch.gguf"
out=$("$LM" ls 2>&1)
check_line ls_marks_unsupported "^other-arch +.* qwen .*\(unsupported architecture\)"

# -m takes a found model's name: ollama's short forms, a cache's listing.
for name in "ollama: phi3:latest" "phi3:latest" "phi3" "hf-org/cached-GGUF llama3-e32-Q4_0.gguf"; do
    out=$("$LM" info -m "$name" 2>&1)
    grep -q "^file: " <<<"$out" && ok "model_by_found_name: $name" || fail "model_by_found_name: $name" "$out"
done
