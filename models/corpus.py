#!/usr/bin/env python3
"""corpus.py — English prose with sections and paragraphs, from Debian's python3.11-doc.

The Python documentation's reStructuredText sources (PSF licence; Debian ships them in
/usr/share/doc/python3.11/html/_sources) become plain text in the Wikitext-103 layout the paper
trained on: one line per paragraph, section titles as lines "= Title =", "= = Subtitle = =", ...
by depth, every file one document starting with its title. What is not prose is dropped: code
(literal blocks after "::", doctest blocks, code directives), tables, comments, link targets,
index entries and directive options; the bodies of the describing directives (function, class,
note, versionchanged, ...) are kept as paragraphs, list items become paragraphs, and inline
markup keeps its text (":func:`os.path.join`" -> "os.path.join", "``x``" -> "x").

Every file goes to the held-out split when the SHA-1 of its path ends in a byte < 13 (about 5 %),
else to train. whatsnew/changelog (a list of bug numbers) is left out.

  models/corpus.py [--src DIR] OUT_DIR     writes OUT_DIR/pydoc-train.txt, pydoc-valid.txt
"""
import argparse
import hashlib
import os
import re
import sys

SRC = "/usr/share/doc/python3.11/html/_sources"
LEAVE_OUT = {"whatsnew/changelog.rst.txt"}
ADORN = set("=-~^*#\"'+`:._")
ADMONITIONS = {"note", "warning", "seealso", "deprecated", "versionadded", "versionchanged", "attention", "important",
               "tip", "caution", "danger", "hint", "admonition", "topic", "sidebar"}
# directives whose bodies are not prose
SKIP = {"index", "module", "currentmodule", "toctree", "code-block", "sourcecode", "code", "literalinclude",
        "productionlist", "testcode", "testsetup", "testcleanup", "testoutput", "doctest", "highlight",
        "highlightlang", "sectionauthor", "moduleauthor", "image", "figure", "raw", "csv-table", "list-table",
        "table", "include", "audit-event", "opcode", "c:macro", "c:type", "c:var", "c:member", "availability",
        "rubric", "cmdoption", "option", "program", "envvar", "tabularcolumns", "only", "impl-detail", "limited-api"}
DIRECTIVE = re.compile(r"^\.\.\s+([\w:-]+)::(.*)$")
BULLET = re.compile(r"^([*+-]|#\.|\d+\.|\(?[a-z\d]\)|[a-z]\.)\s+")


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def inline(text):
    """Inline markup to its text; whitespace collapsed."""
    text = re.sub(r":([\w:+-]+):`([^`]*)`", lambda m: role_text(m.group(2), m.group(1)), text)
    text = re.sub(r"``([^`]*)``", r"\1", text)
    text = re.sub(r"`([^`<]*?)\s*<[^>]*>`_{1,2}", r"\1", text)
    text = re.sub(r"`([^`]*)`_{0,2}", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*", r"\1", text)
    text = re.sub(r"\|([^|\s][^|]*)\|_?", r"\1", text)
    text = re.sub(r"\\(.)", r"\1", text)
    return " ".join(text.split())


def role_text(s, role):
    s = s.lstrip("!")
    if role in ("pep", "rfc"):
        return "%s %s" % (role.upper(), s.split("#")[0])
    m = re.match(r"^(.*?)\s*<[^>]*>$", s)
    if m and m.group(1):
        return m.group(1)
    if s.startswith("~"):
        return s[1:].split(".")[-1]
    return s


def is_adornment(line):
    s = line.rstrip()
    return len(s) >= 3 and s[0] in ADORN and s == s[0] * len(s)


class Doc:
    def __init__(self):
        self.out = []  # ("title", level, text) or ("para", text)
        self.styles = []  # title adornment styles in order of appearance: their index is the level

    def title(self, style, text):
        if style not in self.styles:
            self.styles.append(style)
        text = inline(text)
        if text:
            self.out.append(("title", self.styles.index(style) + 1, text))

    def para(self, text):
        text = inline(text)
        if text and re.search(r"[A-Za-z]{2}", text):
            self.out.append(("para", text))


def blocks(lines, base):
    """Splits lines into (kind, block lines) at indentation base: a paragraph (a line at base
    indentation and the non-blank lines after it), or a nested run (deeper, after a blank line)."""
    i, n = 0, len(lines)
    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        j = i
        if indent_of(lines[i]) > base:
            while j < n and (not lines[j].strip() or indent_of(lines[j]) > base):
                j += 1
            yield "nested", lines[i:j]
        else:
            j += 1
            while j < n and lines[j].strip():  # deeper lines without a blank line continue it
                j += 1
            yield "para", lines[i:j]
        i = j


def dedent(lines):
    k = min(indent_of(x) for x in lines if x.strip())
    return [x[k:] if x.strip() else "" for x in lines]


def convert(lines, doc):
    """Appends the prose of rst lines (common indentation removed) to doc."""
    lines = dedent(lines) if any(x.strip() for x in lines) else []
    skip_nested = False
    for kind, blk in blocks(lines, 0):
        if kind == "nested":
            if not skip_nested:
                convert(blk, doc)
            skip_nested = False
            continue
        skip_nested = False
        first = blk[0]
        d = DIRECTIVE.match(first)
        if first.startswith(".."):  # a directive, comment or link target with its body
            body = blk[1:]
            name = d.group(1) if d else None
            keep = name is not None and name not in SKIP and not name.startswith("c:macro")
            if keep and name in ADMONITIONS:  # text on the directive's line and after it is content
                rest = d.group(2).strip()
                if rest and not re.match(r"^\d+(\.\d+)*$", rest):
                    body = [rest] + body
                body = [x for x in body if not re.match(r"^\s*:[\w-]+:", x)]
                if body:
                    convert(body, doc)  # (a signature's continuation lines and options are not prose)
            skip_nested = not keep  # the indented body after a blank line
            continue
        if len(blk) >= 2 and is_adornment(blk[1]) and not is_adornment(blk[0]):
            doc.title((blk[1][0], False), blk[0])
            continue
        if len(blk) >= 3 and is_adornment(blk[0]) and is_adornment(blk[2]):
            doc.title((blk[0][0], True), blk[1])
            continue
        if is_adornment(first) or first.startswith(("+-", ">>>", "|")) or re.match(r"^=+\s+=+", first):
            skip_nested = first.startswith(">>>")
            continue  # transitions, grid and simple tables, doctest, line blocks
        # list items: each its own paragraph
        items, cur = [], []
        for x in blk:
            if BULLET.match(x) and (cur or x is first):
                if cur:
                    items.append(cur)
                cur = [BULLET.sub("", x, count=1)]
            else:
                cur.append(x)
        items.append(cur)
        for it in items:
            text = " ".join(x.strip() for x in it)
            text = re.sub(r"^:[\w -]+:\s+", "", text)  # a field list's name
            if text.endswith("::"):
                skip_nested = True  # a literal block follows
                text = text[:-2].rstrip()
                text = text + ":" if text and not text.endswith(":") else text
            doc.para(text)


def document(path):
    with open(path, encoding="utf-8") as f:
        lines = [x.rstrip("\n").expandtabs(8).rstrip() for x in f]
    doc = Doc()
    convert(lines, doc)
    out = []
    for item in doc.out:
        if item[0] == "title":
            mark = " ".join(["="] * item[1])
            out.append("%s %s %s" % (mark, item[2], mark))
        else:
            out.append(item[1])
    # a document starts at its title
    while out and not out[0].startswith("="):
        out.pop(0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="output folder")
    ap.add_argument("--src", default=SRC)
    args = ap.parse_args()
    if not os.path.isdir(args.src):
        sys.exit("corpus.py: %s is missing: install Debian's python3.11-doc (apt-get install python3.11-doc)" %
                 args.src)
    files = sorted(os.path.relpath(os.path.join(d, f), args.src)
                   for d, _, fs in os.walk(args.src) for f in fs if f.endswith(".rst.txt"))
    os.makedirs(args.out, exist_ok=True)
    outs = {s: open(os.path.join(args.out, "pydoc-%s.txt.tmp" % s), "w", encoding="utf-8") for s in ("train", "valid")}
    counts = {"train": [0, 0], "valid": [0, 0]}
    for rel in files:
        if rel in LEAVE_OUT:
            continue
        lines = document(os.path.join(args.src, rel))
        if len(lines) < 2:
            continue
        split = "valid" if hashlib.sha1(rel.encode()).digest()[-1] < 13 else "train"
        outs[split].write("\n".join(lines) + "\n\n")
        counts[split][0] += 1
        counts[split][1] += sum(len(x.split()) for x in lines)
    for s, f in outs.items():
        f.close()
        os.replace(f.name, f.name[:-4])
        print("%s: %d documents, %d words" % (f.name[:-4], counts[s][0], counts[s][1]))


if __name__ == "__main__":
    main()
