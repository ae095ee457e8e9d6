#!/usr/bin/env python3
"""The command line against llama.cpp's answers (../shared/conformance, README
sections 4 and 5), one lmterm process per case, as a user would run it:

  tokenize   every line of both JSONL files, with and without BOS/special parsing;
  logits     `lmterm logits -c N_CTX -- PROMPT` against each case's .f32 row,
             max|d| <= tol*s and rms(d) <= tol/3*s, tol by the file's class;
  greedy     `lmterm run -p PROMPT -n 16 --temp 0 -c N_CTX`: stdout begins with
             the pieces of the steps the margin rule compares (a near-tie
             between the reference's top two ends the comparison; an EOG step
             ends it and nothing may follow but a newline).

Usage: conformance.py LMTERM CONFORMANCE_DIR {tokenize|logits|greedy|count}
Prints tests/lib.sh's lines: "ok NAME", "FAIL NAME" + indented detail, "skip NAME: why".
"count" prints how many result lines the other three modes print together.
"""
import glob
import json
import math
import os
import struct
import subprocess
import sys

LM, DIR, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
TIMEOUT = 120  # seconds for one lmterm process


def lmterm(*args):
    """(exit status, stdout bytes, stderr text) of one lmterm run."""
    try:
        p = subprocess.run([LM, *args], capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return -1, b"", "timed out after %d s" % TIMEOUT
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def fail(name, *lines):
    print("FAIL " + name)
    for line in lines:
        print("    " + line)


def cases():
    return sorted(glob.glob(os.path.join(DIR, "logits", "*.json")))


def case_name(path):
    return os.path.basename(path)[: -len(".json")]


def tokenize():
    models = {"phi3": "phi3-e64-Q8_0.gguf", "llama3": "llama3-e32-Q4_0.gguf"}
    for vocab, model in models.items():
        lines = open(os.path.join(DIR, "tokenize", "tokenize-%s.jsonl" % vocab), encoding="utf-8").read().split("\n")
        lines = [line for line in lines if line]
        for field, flags in (("ids", []), ("ids_nobos_nospecial", ["--no-bos", "--no-special"])):
            name = "cli_tokenize_%s_%s" % (vocab, field)
            bad = []
            for n, line in enumerate(lines, 1):
                case = json.loads(line)
                text = case["text"].encode("utf-8", "surrogatepass")
                rc, out, err = lmterm(
                    "tokenize", "-m", os.path.join(DIR, "models", model), *flags, "--", text
                )
                got = out.decode().split() if rc == 0 else None
                want = [str(i) for i in case[field]]
                if got != want:
                    bad.append(
                        "line %d %r: exit %d, got %s, want %s"
                        % (n, case["text"][:40], rc, got, " ".join(want))
                        + ("; " + err.strip() if rc else "")
                    )
            if bad:
                fail(name, "%d of %d texts differ; first:" % (len(bad), len(lines)), *bad[:3])
            else:
                print("ok   %s (%d texts)" % (name, len(lines)))


def tolerance(model):
    table = json.load(open(os.path.join(DIR, "tolerances.json")))
    for key, tol in table.items():
        if not key.startswith("_") and key in model:
            return tol
    raise SystemExit("no tolerance for " + model)


def logits():
    for path in cases():
        case = json.load(open(path))
        name = "cli_logits_" + case_name(path)
        tol = tolerance(case["model"])
        raw = open(os.path.join(DIR, "logits", case["last_prompt_logits_file"]), "rb").read()
        ref = struct.unpack("<%df" % (len(raw) // 4), raw)
        rc, out, err = lmterm(
            "logits",
            "-m", os.path.join(DIR, "models", case["model"]),
            "-c", str(case["n_ctx"]),
            "--", bytes.fromhex(case["prompt_hex"]),
        )
        if rc != 0:
            fail(name, "exit status %d: %s" % (rc, err.strip()[:200]))
            continue
        try:
            got = [float(v) for v in out.split()]
        except ValueError as e:
            fail(name, "not a number a line: %s" % e)
            continue
        if len(got) != len(ref) or not all(math.isfinite(v) for v in got):
            fail(name, "%d values (want %d), all finite: %s"
                 % (len(got), len(ref), all(math.isfinite(v) for v in got)))
            continue
        mean = sum(ref) / len(ref)
        s = math.sqrt(sum((r - mean) ** 2 for r in ref) / len(ref))
        d = [g - r for g, r in zip(got, ref)]
        worst = max(abs(x) for x in d) / s
        rms = math.sqrt(sum(x * x for x in d) / len(d)) / s
        detail = "max|d|/s %.5f (tol %g), rms/s %.5f (limit %.5f)" % (worst, tol, rms, tol / 3)
        if worst <= tol and rms <= tol / 3:
            print("ok   %s (%s)" % (name, detail))
        else:
            fail(name, detail)


def compared_steps(case, tol):
    """The steps the margin rule compares (README section 4)."""
    steps = []
    for st in case["steps"]:
        margin = st["top5"][0][1] - st["top5"][1][1]
        if margin <= 2 * tol * st["std"]:
            break
        steps.append(st)
        if st["is_eog"]:
            break
    return steps


def greedy():
    for path in cases():
        case = json.load(open(path))
        name = "cli_greedy_" + case_name(path)
        steps = compared_steps(case, tolerance(case["model"]))
        if not steps:
            print("skip %s: the reference's top two are a near-tie at the first step" % name)
            continue
        rc, out, err = lmterm(
            "run",
            "-m", os.path.join(DIR, "models", case["model"]),
            "-c", str(case["n_ctx"]),
            "-n", "16", "--temp", "0",
            "-p", bytes.fromhex(case["prompt_hex"]),
        )
        want = b"".join(bytes.fromhex(st["piece_hex"]) for st in steps if not st["is_eog"])
        eog = steps[-1]["is_eog"]
        if rc != 0:
            fail(name, "exit status %d: %s" % (rc, err.strip()[:200]))
        elif not out.startswith(want):
            fail(name, "%d steps compared; stdout %r does not begin with %r" % (len(steps), out[:80], want))
        elif eog and out[len(want):] not in (b"", b"\n"):
            fail(name, "step %d is end-of-generation, yet %r follows" % (len(steps) - 1, out[len(want):][:40]))
        else:
            print("ok   %s (%d of 16 steps compared%s)" % (name, len(steps), ", ends at EOG" if eog else ""))


if MODE == "count":
    print(4 + 2 * len(cases()))
else:
    {"tokenize": tokenize, "logits": logits, "greedy": greedy}[MODE]()
