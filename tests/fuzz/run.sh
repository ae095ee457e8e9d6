#!/usr/bin/env bash
# Builds the libFuzzer targets tests/fuzz/fuzz_*.c with clang (ASan + UBSan)
# and runs each for SECONDS (default 60) on its seed corpus.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     (make fuzz FUZZ_SECONDS=N)
#
# SECONDS 0 only builds the targets and replays the regression inputs.
# Per target it first replays tests/fuzz/regressions/TARGET/* (inputs that once
# crashed), then fuzzes with tests/fuzz/corpus/TARGET/ as seeds. New corpus
# entries go to a temporary folder, so the repository is never modified; a
# crashing, leaking, hanging or memory-hungry input is kept in
# tests/fuzz/findings/TARGET/ (git-ignored) with its log.
#
# Prints one line per target, "TARGET: ok, N executions in S s ..." or
# "TARGET: FAILED (...)", and exits 0 when nothing was found, 1 when something
# was (or a build failed), 77 when clang with libFuzzer is not available.
#
# A harness may name extra libFuzzer options in a comment line of the form
# " * libFuzzer: -max_len=4096 -timeout=10"; TARGET.dict beside it is used as
# a dictionary. Environment: CLANG (compiler), FUZZ_BUILD (build folder,
# default build/fuzz), FUZZ_KEEP=1 keeps the temporary corpora.
set -u
cd "$(dirname "$0")/../.." || exit 2
seconds=${1:-60}
shift $(($# > 0 ? 1 : 0))
case $seconds in '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

build=${FUZZ_BUILD:-build/fuzz}
mkdir -p "$build/obj"

# ---- the compiler ----
cc=${CLANG:-}
if [ -z "$cc" ]; then
    for c in clang clang-14 clang-15 clang-16 clang-17 clang-18 clang-19; do
        command -v "$c" >/dev/null 2>&1 && { cc=$c; break; }
    done
fi
probe=$build/probe
if [ -z "$cc" ] || ! printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' |
    "$cc" -x c -fsanitize=fuzzer,address,undefined -o "$probe" - >/dev/null 2>&1; then
    echo "fuzz: clang with libFuzzer not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 77
fi

blas_cflags=$(pkg-config --cflags openblas 2>/dev/null)
blas_libs=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# The flags travel as one string (to xargs workers too); the quotes around the
# version are meant literally: the macro is a C string.
# shellcheck disable=SC2089,SC2090
cflags="-std=c11 -O1 -g -Wall -Wextra -pthread $sanitize -Iinclude/base -Iinclude/infer -Iinclude/app -Iinclude/serve -D_GNU_SOURCE \
-DLMTERM_VERSION=\"0.1.0-fuzz\" $blas_cflags"
libs="-lyaml $blas_libs -lpthread -lm"

# ---- the library: the layers below the front ends (src/base, infer, app), without anything that needs a terminal ----
# A changed compiler or flags rebuilds everything; otherwise an object is
# rebuilt when its source or a header it included (from its .d file) is newer.
# Runs of this script may overlap (one per target, in parallel): one builds
# the library at a time.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$build/lock"
    flock 9
fi
stamp="$build/obj/flags"
if [ "$(cat "$stamp" 2>/dev/null)" != "$cc $cflags" ]; then
    rm -f "$build"/obj/*.o "$build"/obj/*.d
    printf '%s' "$cc $cflags" >"$stamp"
fi
sources=()
for s in src/base/*.c src/infer/*.c src/app/*.c src/serve/*.c; do
    grep -qE '#include *[<"](n?curses|readline|microhttpd)' "$s" && continue
    sources+=("$s")
done
is_stale() { # OBJECT DEPFILE
    [ -f "$1" ] && [ -f "$2" ] || return 0
    local dep
    # shellcheck disable=SC2013 # a .d file is words: paths
    for dep in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$2"); do
        [ "$dep" -nt "$1" ] && return 0
    done
    return 1
}
stale=()
for s in "${sources[@]}"; do
    o="$build/obj/$(basename "${s%.c}").o"
    is_stale "$o" "${o%.o}.d" && stale+=("$s")
done
# shellcheck disable=SC2317,SC2090 # called through xargs
compile_one() { # SOURCE: SIMD files get their instruction sets, as in the Makefile
    local s=$1 extra='' o
    o="$build/obj/$(basename "${s%.c}").o"
    rm -f "$o" "${o%.o}.d"
    case $s in
    *_avx2.c) extra="-mavx2 -mfma -mf16c" ;;
    *_avx512.c) extra="-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx512bf16 -mfma -mf16c" ;;
    esac
    # shellcheck disable=SC2086
    "$cc" $cflags $extra -fsanitize=fuzzer-no-link -MMD -MF "${o%.o}.d" -c -o "$o" "$s" \
        2>"${o%.o}.log" && return 0
    echo "fuzz: warning: $s does not compile (see ${o%.o}.log); targets that need it will fail"
    return 1
}
export -f compile_one
# shellcheck disable=SC2090
export cc cflags build
if [ ${#stale[@]} -gt 0 ]; then
    echo "fuzz: compiling ${#stale[@]} source files with $cc"
    # A file that does not compile (someone's work in progress) is left out:
    # only a target that needs it fails, at link time.
    printf '%s\n' "${stale[@]}" | xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} bash -c 'compile_one {}'

fi
lib="$build/liblmterm-fuzz.a"
objs=()
for s in "${sources[@]}"; do
    o="$build/obj/$(basename "${s%.c}").o"
    [ -f "$o" ] && [ ! "$s" -nt "$o" ] && objs+=("$o")
done
relib=0
[ -f "$lib" ] && [ "$(cat "$lib.list" 2>/dev/null)" = "${objs[*]}" ] || relib=1
for o in "${objs[@]}"; do [ "$o" -nt "$lib" ] && relib=1; done
if [ $relib = 1 ]; then
    rm -f "$lib.$$"
    ar rcs "$lib.$$" "${objs[@]}" && mv -f "$lib.$$" "$lib" && printf '%s' "${objs[*]}" >"$lib.list"
fi
command -v flock >/dev/null 2>&1 && flock -u 9

# ---- the targets ----
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "${f%.c}")"); done
fi

status=0
for t in "${targets[@]}"; do
    src=tests/fuzz/$t.c
    bin=$build/$t
    if [ ! -f "$src" ]; then
        echo "$t: FAILED (no $src)"
        status=1
        continue
    fi
    # shellcheck disable=SC2086,SC2090
    if [ -x "$bin" ] && [ "$bin" -nt "$src" ] && [ "$bin" -nt "$lib" ]; then
        : # up to date
    elif ! "$cc" $cflags -fsanitize=fuzzer -o "$bin" "$src" "$lib" $libs 2>"$build/$t.build.log"; then
        echo "$t: FAILED (build; see $build/$t.build.log)"
        sed -n 1,20p "$build/$t.build.log" | sed 's/^/    /'
        status=1
        continue
    fi
    grep -qs 'warning:' "$build/$t.build.log" && echo "fuzz: warning: $src has compiler warnings (see $build/$t.build.log)"

    # shellcheck disable=SC2207
    opts=($(sed -n 's/^ \* libFuzzer: //p' "$src" | head -1))
    [ -f "tests/fuzz/$t.dict" ] && opts+=("-dict=tests/fuzz/$t.dict")
    findings=tests/fuzz/findings/$t
    mkdir -p "$findings"
    # the corpus and the targets' own temporary files, on tmpfs when there is one
    base=${TMPDIR:-/tmp}
    [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ] && base=/dev/shm
    work=$(mktemp -d "$base/lmterm-fuzz-$t.XXXXXX")
    mkdir -p "$work/corpus" "$work/tmp"
    before=$(ls "$findings")

    # Inputs that crashed once must not crash again.
    regress=()
    for r in tests/fuzz/regressions/"$t"/*; do [ -f "$r" ] && regress+=("$r"); done
    if [ ${#regress[@]} -gt 0 ] &&
        ! TMPDIR=$work/tmp "$bin" "${opts[@]}" -artifact_prefix="$findings/" "${regress[@]}" >"$work/regress.log" 2>&1; then
        cp "$work/regress.log" "$findings/regression.log"
        echo "$t: FAILED (a regression input crashes again; see $findings/regression.log)"
        grep -m2 -E '^(SUMMARY|==[0-9]+== ?ERROR|.*runtime error|fuzz_[a-z_]+: check failed)' "$work/regress.log" | sed 's/^/    /'
        status=1
        [ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$work"
        continue
    fi

    if [ "$seconds" -eq 0 ]; then # build and replay only
        echo "$t: ok, built; ${#regress[@]} regression inputs pass (not fuzzed: 0 seconds)"
        rm -rf "$work"
        continue
    fi

    seeds=()
    for d in "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; do [ -d "$d" ] && seeds+=("$d"); done
    n_seeds=0
    [ ${#seeds[@]} -gt 0 ] && n_seeds=$(find "${seeds[@]}" -type f | wc -l)
    TMPDIR=$work/tmp "$bin" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$findings/" "$work/corpus" "${seeds[@]}" >"$work/log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    new_units=$(find "$work/corpus" -type f | wc -l)
    new=$(comm -13 <(printf '%s\n' "$before") <(ls "$findings"))
    if [ $rc -eq 0 ] && [ -z "$new" ]; then
        echo "$t: ok, ${execs:-?} executions in $seconds s, no findings ($n_seeds seeds, $new_units new inputs)"
    else
        status=1
        kept=
        for f in $new; do
            cp "$work/log" "$findings/$f.log"
            kept="$kept $findings/$f"
        done
        [ -n "$kept" ] || { cp "$work/log" "$findings/run-$(date +%s).log"; kept=" (no input kept; see the log in $findings)"; }
        echo "$t: FAILED (exit $rc) after ${execs:-?} executions; input:$kept"
        grep -m2 -E '^(SUMMARY|==[0-9]+== ?ERROR|.*runtime error|fuzz_[a-z_]+: check failed)' "$work/log" | sed 's/^/    /'
    fi
    if [ "${FUZZ_KEEP:-0}" = 1 ]; then echo "    corpus and log kept in $work"; else rm -rf "$work"; fi
done
exit $status
