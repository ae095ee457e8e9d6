#!/usr/bin/env bash
# make bench: prompt and generation speed on synthetic full-size models.
#
# The models (random weights, real shapes) are written once into a cache
# folder, $LMTERM_BENCH_CACHE or bench-cache/ at the top of the repository
# (ignored by git): phi3-mini in Q4_0 (all Q4_0, and with a Q6_K output
# matrix as llama-quantize makes it), Q4_K_M, Q8_0 and F16; llama3-8b in
# Q4_0, Q4_K_M and Q8_0; about 37 GB in all. Then `lmterm bench --json` runs
# on each and one table is printed. Settings: LMTERM_BENCH_MODELS (names from
# the list below; default all), LMTERM_BENCH_PROMPT (512), LMTERM_BENCH_GEN
# (128), LMTERM_BENCH_REPS (3), LMTERM_BENCH_THREADS (lmterm's default),
# LMTERM_BENCH_DEPTHS (context depths for more generation columns, `bench
# --depth D`; default "2048"; empty: none), LMTERM_BIN (./lmterm).
set -eu
cd "$(dirname "$0")/.."

lmterm=${LMTERM_BIN:-./lmterm}
cache=${LMTERM_BENCH_CACHE:-bench-cache}
prompt=${LMTERM_BENCH_PROMPT:-512}
gen=${LMTERM_BENCH_GEN:-128}
reps=${LMTERM_BENCH_REPS:-3}
threads=${LMTERM_BENCH_THREADS:+-t $LMTERM_BENCH_THREADS}
depths=${LMTERM_BENCH_DEPTHS-2048}

# name, arch, shape, type: a synth type, TYPE:OUTPUT_TYPE, or from:NAME:TYPE
# to quantize the model NAME of this list.
models=(
    "phi3-mini-q4_0 phi3 phi3-mini q4_0"
    "phi3-mini-q4_0-q6_k phi3 phi3-mini q4_0:q6_k"
    "phi3-mini-q4_k_m phi3 phi3-mini from:phi3-mini-f16:q4_k_m"
    "phi3-mini-q8_0 phi3 phi3-mini q8_0"
    "phi3-mini-f16 phi3 phi3-mini f16"
    "llama3-8b-q4_0 llama llama3-8b q4_0"
    "llama3-8b-q4_k_m llama llama3-8b from:llama3-8b-q8_0:q4_k_m"
    "llama3-8b-q8_0 llama llama3-8b q8_0"
)
need_gb=37
if [ -n "${LMTERM_BENCH_MODELS:-}" ]; then
    chosen=()
    for m in "${models[@]}"; do
        case " $LMTERM_BENCH_MODELS " in *" ${m%% *} "*) chosen+=("$m") ;; esac
    done
    models=("${chosen[@]}")
fi

mkdir -p "$cache"
missing=0
for m in "${models[@]}"; do
    set -- $m
    [ -f "$cache/$1.gguf" ] || missing=1
done
if [ $missing = 1 ]; then
    free_gb=$(df -Pk "$cache" | awk 'NR == 2 { print int($4 / 1048576) }')
    echo "bench: writing the missing models into $cache/ (about $need_gb GB for all; $free_gb GB free)"
    if [ "$free_gb" -lt "$need_gb" ]; then
        echo "bench: warning: maybe not enough disk space; models that fail are skipped" >&2
    fi
fi

# A freshly written file sits in the page cache in small pages; dropping it
# from the cache lets the first run read it back in 2 MiB pages, as after a
# reboot, which the weights stream faster from (see gguf_open).
uncache() {
    dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true
}

make_model() { # name arch shape type
    local out="$cache/$1.gguf"
    [ -f "$out" ] && return 0
    case $4 in
    from:*)
        local src=${4#from:}
        src=${src%%:*}
        [ -f "$cache/$src.gguf" ] || make_model "$src" "$2" "$3" "${src##*-}" || return 1
        echo "bench: creating $out from $src"
        "$lmterm" quantize "$cache/$src.gguf" "$out.tmp" "${4##*:}" >/dev/null || return 1
        ;;
    *:*)
        echo "bench: creating $out"
        "$lmterm" synth --arch "$2" --shape "$3" --type "${4%%:*}" --output-type "${4##*:}" -o "$out.tmp" || return 1
        ;;
    *)
        echo "bench: creating $out"
        "$lmterm" synth --arch "$2" --shape "$3" --type "$4" -o "$out.tmp" || return 1
        ;;
    esac
    mv "$out.tmp" "$out"
    uncache "$out"
}

field() { # json key
    sed -n "s/.*\"$2\": *\\([0-9.e+-]*\\).*/\\1/p" <<<"$1"
}

rows=()
for m in "${models[@]}"; do
    set -- $m
    if ! make_model "$@"; then
        echo "bench: could not create $1; skipped" >&2
        rm -f "$cache/$1.gguf.tmp"
        continue
    fi
    echo "bench: $1 ..." >&2
    # shellcheck disable=SC2086
    if ! json=$("$lmterm" bench -m "$cache/$1.gguf" -p "$prompt" -n "$gen" --reps "$reps" $threads --json); then
        echo "bench: $1 failed" >&2
        continue
    fi
    rss=$(field "$json" peak_rss_bytes)
    row="$(printf '%-20s %10.2f %10.2f %8.0f%% %10.0f %8.1f %8.0f%%' "$1" "$(field "$json" prompt_tps)" \
        "$(field "$json" gen_tps)" "$(awk -v f="$(field "$json" bandwidth_fraction)" 'BEGIN { print 100 * f }')" \
        "$(awk -v b="$rss" 'BEGIN { print b / 1048576 }')" "$(field "$json" bandwidth_gbps)" \
        "$(awk -v f="$(field "$json" large_page_fraction)" 'BEGIN { print 100 * f }')")"
    for d in $depths; do # generation after d tokens of context
        # shellcheck disable=SC2086
        if json=$("$lmterm" bench -m "$cache/$1.gguf" -p 1 -n "$gen" --depth "$d" --reps "$reps" $threads --json); then
            row+="$(printf ' %10.2f' "$(field "$json" gen_tps)")"
        else
            row+="$(printf ' %10s' failed)"
        fi
    done
    rows+=("$row")
done

echo
echo "prompt: $prompt tokens, generation: $gen tokens, median of $reps runs"
printf '%-20s %10s %10s %9s %10s %8s %9s' file "prompt t/s" "gen t/s" "bw frac" "RSS MiB" "GB/s" "2M pages"
for d in $depths; do printf ' %10s' "gen@$d"; done
echo
for r in "${rows[@]}"; do echo "$r"; done
