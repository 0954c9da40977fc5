#!/usr/bin/python3
"""test_examples.py — every counting program shown to users (the README, web/README.md, the example
blog post and the widget's documentation) is answered right by its model: the answer an independent
recount of the program gives is the model's most likely next token (`cope trace --json`, last row),
and where a widget says its baseline errs (data-baseline-wrong), the baseline does.
A program in a tag that names a shipped model is checked on that model, any other on every shipped
counting model. Usage: tests/test_examples.py [path/to/cope]; ends with "N passed, N failed"."""
import glob
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPE = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "cope"))
FILES = ["README.md", "web/README.md", "web/src/cope-viz.js"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "web/examples/*.html")))
PROGRAM = re.compile(r"[a-e] = 0 ;(?: (?:[a-e] = 0 ;|[a-e] \+\+;|pass;))* print [a-e]")
MODEL = re.compile(r"(counting\d-[a-z_]+-s\d+)\.safetensors")
MODEL_ATTR = re.compile(r'model="[^"]*?(counting\d-[a-z_]+-s\d+)\.safetensors"')
# a widget whose text says its baseline gets the program wrong: <cope-viz ... baseline="...X.safetensors" data-baseline-wrong>
BASELINE_WRONG = re.compile(r'baseline="[^"]*?(counting\d-[a-z_]+-s\d+)\.safetensors"[^>]*data-baseline-wrong')


def recount(program):
    """the value printed: replay the statements"""
    value = {}
    stmts = program.split(" print ")[0]
    for s in re.findall(r"[a-e] = 0 ;|[a-e] \+\+;|pass;", stmts):
        if s.endswith("= 0 ;"):
            value[s[0]] = 0
        elif s.endswith("++;"):
            value[s[0]] += 1
    return str(value[program[-1]])


def answer(model, program):
    out = subprocess.run([COPE, "trace", model, "--text", program, "--json"], check=True, capture_output=True,
                         text=True).stdout
    tr = json.loads(out)
    vocab = json.loads(subprocess.run([COPE, "info", model, "--json"], check=True, capture_output=True,
                                      text=True).stdout)["tokenizer"]["vocab"]
    last = tr["logits"][-1]
    return vocab[max(range(len(last)), key=last.__getitem__)]


def main():
    shipped = sorted(glob.glob(os.path.join(ROOT, "models", "counting*-s*.safetensors")))
    passed = failed = 0
    seen = 0
    for f in FILES:
        with open(os.path.join(ROOT, f)) as fh:
            lines = fh.read().split("\n")
        for k, line in enumerate(lines):
            for program in PROGRAM.findall(line):
                seen += 1
                # the model named in the same tag (this line or the one above, as a pasted snippet has it)
                near = " ".join(lines[max(0, k - 2):k + 1])
                named = MODEL_ATTR.findall(near) or MODEL.findall(near)
                models = [os.path.join(ROOT, "models", named[-1] + ".safetensors")] if named else shipped
                try:
                    want = recount(program)
                except KeyError:  # the printed variable is never set: not a program of the task
                    failed += 1
                    print("FAIL %s:%d \"%s\" prints a variable it never sets" % (f, k + 1, program))
                    continue
                for b in BASELINE_WRONG.findall(line):  # the post says the baseline errs here: it must
                    got = answer(os.path.join(ROOT, "models", b + ".safetensors"), program)
                    if got != want:
                        passed += 1
                        print("ok   %s:%d baseline %s errs as the text says: -> %s, the answer is %s" % (
                            f, k + 1, b, got, want))
                    else:
                        failed += 1
                        print("FAIL %s:%d baseline %s answers %s right; the text says it errs" % (f, k + 1, b, got))
                for m in models:
                    if not os.path.exists(m):
                        print("FAIL %s:%d names %s, which is not shipped" % (f, k + 1, os.path.basename(m)))
                        failed += 1
                        continue
                    got = answer(m, program)
                    if got == want:
                        passed += 1
                        print("ok   %s:%d %s: \"%s\" -> %s" % (f, k + 1, os.path.basename(m), program, got))
                    else:
                        failed += 1
                        print("FAIL %s:%d %s: \"%s\" -> %s, the answer is %s" % (f, k + 1, os.path.basename(m),
                                                                               program, got, want))
    if seen < 4 or not shipped:  # the files above hold at least four programs; a pattern that finds none is broken
        failed += 1
        print("FAIL found %d example programs and %d shipped counting models" % (seen, len(shipped)))
    else:
        passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
