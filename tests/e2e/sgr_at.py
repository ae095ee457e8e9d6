#!/usr/bin/env python3
"""sgr_at.py FILE TEXT: the attributes a `tmux capture-pane -e` dump (FILE)
gives the first character of the first line where TEXT appears, as
"bold=1 italic=0 underline=0 reverse=0 fg=149 bg=default"; "absent" when
TEXT is nowhere. Colours are 256-colour indexes, r;g;b, or default."""
import re
import sys

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def apply(state, params):
    p = [int(x) if x else 0 for x in params.split(";")] if params else [0]
    i = 0
    while i < len(p):
        c = p[i]
        if c == 0:
            state.update(bold=0, italic=0, underline=0, reverse=0, fg="default", bg="default")
        elif c in (1, 3, 4, 7):
            state[{1: "bold", 3: "italic", 4: "underline", 7: "reverse"}[c]] = 1
        elif c in (22, 23, 24, 27):
            state[{22: "bold", 23: "italic", 24: "underline", 27: "reverse"}[c]] = 0
        elif c in (38, 48) and i + 2 < len(p) and p[i + 1] == 5:
            state["fg" if c == 38 else "bg"] = str(p[i + 2])
            i += 2
        elif c in (38, 48) and i + 4 < len(p) and p[i + 1] == 2:
            state["fg" if c == 38 else "bg"] = "%d;%d;%d" % tuple(p[i + 2 : i + 5])
            i += 4
        elif c == 39:
            state["fg"] = "default"
        elif c == 49:
            state["bg"] = "default"
        elif 30 <= c <= 37 or 90 <= c <= 97:
            state["fg"] = str(c - 30 if c < 90 else c - 82)
        elif 40 <= c <= 47 or 100 <= c <= 107:
            state["bg"] = str(c - 40 if c < 100 else c - 92)
        i += 1


def main():
    text = sys.argv[2]
    state = dict(bold=0, italic=0, underline=0, reverse=0, fg="default", bg="default")
    for line in open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n"):
        plain, attrs = "", []  # the visible characters and their attributes
        pos = 0
        for m in SGR.finditer(line):
            for ch in line[pos : m.start()]:
                plain += ch
                attrs.append(dict(state))
            apply(state, m.group(1))
            pos = m.end()
        for ch in line[pos:]:
            plain += ch
            attrs.append(dict(state))
        at = plain.find(text)
        if at >= 0:
            a = attrs[at]
            print(" ".join("%s=%s" % (k, a[k]) for k in ("bold", "italic", "underline", "reverse", "fg", "bg")))
            return
    print("absent")


main()
