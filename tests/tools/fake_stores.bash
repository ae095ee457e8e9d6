# make_fake_stores HOME CACHE MODELS: an ollama store in HOME/.ollama/models
# (phi3:latest -> a blob copied from MODELS/phi3-e64-Q8_0.gguf, and one
# manifest that is not JSON), a Hugging Face cache in CACHE/huggingface/hub
# (hf-org/cached-GGUF, a snapshot linking into blobs/) and a llama.cpp cache
# in CACHE/llama.cpp. Prints the ollama blob's path.
make_fake_stores() {
    local home=$1 cache=$2 models=$3 o hex hf
    o=$home/.ollama/models
    mkdir -p "$o/blobs" "$o/manifests/registry.ollama.ai/library/phi3" \
        "$o/manifests/registry.ollama.ai/library/broken"
    hex=$(sha256sum "$models/phi3-e64-Q8_0.gguf" | cut -d' ' -f1)
    cp "$models/phi3-e64-Q8_0.gguf" "$o/blobs/sha256-$hex"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:%s","size":10},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":%s},{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:%s","size":5}]}\n' \
        "$(printf 0%.0s $(seq 64))" "$hex" "$(stat -c %s "$models/phi3-e64-Q8_0.gguf")" \
        "$(printf 1%.0s $(seq 64))" >"$o/manifests/registry.ollama.ai/library/phi3/latest"
    echo 'not json' >"$o/manifests/registry.ollama.ai/library/broken/latest"
    hf=$cache/huggingface/hub/models--hf-org--cached-GGUF
    mkdir -p "$hf/blobs" "$hf/snapshots/0123abcd" "$hf/refs"
    cp "$models/llama3-e32-Q4_0.gguf" "$hf/blobs/aaaa"
    ln -s ../../blobs/aaaa "$hf/snapshots/0123abcd/llama3-e32-Q4_0.gguf"
    echo 0123abcd >"$hf/refs/main"
    mkdir -p "$cache/llama.cpp"
    cp "$models/llama32-e32-tied-Q8_0.gguf" "$cache/llama.cpp/org_repo_llama32-e32-tied-Q8_0.gguf"
    echo "$o/blobs/sha256-$hex"
}
