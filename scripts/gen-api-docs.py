#!/usr/bin/env python3
"""Generates docs/api.md from the comments of include/edgeformer/edgeformer.h.

usage: scripts/gen-api-docs.py [--check] [HEADER] [OUT]
  Writes OUT (default docs/api.md) from HEADER (default the public header).
  --check writes nothing and exits 1 when OUT differs from what would be
  generated (a ctest runs this, so the reference never drifts from the header).

The header's layout is what this reads: section banners
(/* ---- */ /* Title */ /* ---- */), a comment right above a declaration
documents it, a comment followed by a blank line is prose of its section,
`#define EF_X value /**< text */` documents a constant.
"""
import difflib
import html
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_HEADER = os.path.join(ROOT, "include", "edgeformer", "edgeformer.h")
DEFAULT_OUT = os.path.join(ROOT, "docs", "api.md")

IDENT = re.compile(r"\b((?:ef|EF)_[A-Za-z0-9_]+(?:\(\))?)")


def comment_lines(block):
    """The text lines of a /* */ comment, without the markers and ' * ' prefixes."""
    body = re.sub(r"^/\*\*?<?", "", block.strip())
    body = re.sub(r"\*/$", "", body)
    lines = []
    for line in body.split("\n"):
        line = re.sub(r"^\s*\* ?", "", line) if line.strip().startswith("*") else line.strip()
        lines.append(line.rstrip())
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def inline(text):
    """Markdown for a line of prose: `code` spans and identifiers as code,
    the rest escaped."""
    out = []
    for k, part in enumerate(re.split(r"(`[^`]+`)", text)):
        if k % 2:
            out.append(part)
            continue
        pos = 0
        for m in IDENT.finditer(part):
            out.append(escape(part[pos:m.start()]))
            out.append("`%s`" % m.group(1))
            pos = m.end()
        out.append(escape(part[pos:]))
    return "".join(out)


def escape(text):
    text = html.escape(text, quote=False)
    return re.sub(r"([*_`\\\[\]])", r"\\\1", text)


def prose(lines):
    """A comment as Markdown: paragraphs, or a text block when it is laid out
    with indentation (lists of formats, examples)."""
    if any(re.match(r"^ {2,}\S", l) for l in lines):
        return "```text\n" + "\n".join(lines) + "\n```\n"
    paragraphs, cur = [], []
    for l in lines:
        if l.strip():
            cur.append(inline(l.strip()))
        elif cur:
            paragraphs.append(" ".join(cur))
            cur = []
    if cur:
        paragraphs.append(" ".join(cur))
    return "\n\n".join(paragraphs) + "\n"


def parse(header_text):
    """Returns [(section title, [items])]; items are ("prose", lines),
    ("func"|"type", name, code, doc lines) or ("const", name, value, doc)."""
    lines = header_text.split("\n")
    sections = [("Overview", [])]
    pending = None  # a comment waiting for what follows it
    i = 0
    started = False

    def items():
        return sections[-1][1]

    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("/*"):
            block = [line]
            while "*/" not in lines[i]:
                i += 1
                block.append(lines[i])
            i += 1
            text = comment_lines("\n".join(block))
            if len(text) == 1 and re.fullmatch(r"-+", text[0].strip()):
                continue  # a banner rule
            if len(block) == 1 and i < len(lines) and re.fullmatch(r"/\* -+ \*/", lines[i].strip()):
                title = text[0].strip().rstrip(".")
                title = re.sub(r"\s+", " ", title)
                sections.append((title.split(". ")[0], []))
                if ". " in title:
                    items().append(("prose", [title.split(". ", 1)[1] + "."]))
                pending = None
                continue
            if not started:  # the file's leading comment
                started = True
                items().append(("prose", text))
                continue
            nxt = lines[i].strip() if i < len(lines) else ""
            if nxt == "" or nxt.startswith("/*"):
                items().append(("prose", text))
                pending = None
            else:
                pending = text
            continue
        if s.startswith("EF_API"):
            code = [line]
            while ";" not in lines[i]:
                i += 1
                code.append(lines[i])
            i += 1
            joined = "\n".join(code)
            name = re.search(r"\b(ef_\w+)\s*\(", joined).group(1)
            # Without "EF_API ", continuation lines move left by as much.
            decl = "\n".join([re.sub(r"^EF_API\s+", "", code[0].strip())] +
                             [l[7:] if l.startswith(" " * 7) else l for l in code[1:]])
            items().append(("func", name, decl, pending or []))
            pending = None
            continue
        if s.startswith("typedef"):
            code = [line]
            while ";" not in lines[i]:
                i += 1
                code.append(lines[i])
            i += 1
            joined = "\n".join(code)
            m = re.search(r"\(\*\s*(\w+)\)", joined) or re.search(r"(\w+)\s*;\s*$", joined.strip())
            items().append(("type", m.group(1), joined.strip(), pending or []))
            pending = None
            continue
        m = re.match(r"#define\s+(EF_\w+)\s+(.*?)\s*(/\*\*<(.*)\*/)?\s*$", line)
        if m and m.group(1) != "EF_API":
            doc = m.group(4).strip() if m.group(4) else ""
            if not doc and pending:
                doc = " ".join(l.strip() for l in pending)
            items().append(("const", m.group(1), m.group(2).strip(), doc))
            pending = None
            i += 1
            continue
        if s and not s.startswith("#") and s not in ("}", "extern \"C\" {"):
            pending = None
        i += 1
    return [(t, its) for t, its in sections if its]


def render(sections, header_name):
    out = ["# API reference", "",
           "<!-- Generated by scripts/gen-api-docs.py from %s; do not edit. -->" % header_name, "",
           "Everything below is the public C ABI declared in `%s`. "
           "Each entry is generated from the header's own comments." % header_name, ""]
    out.append("Sections: " + ", ".join("[%s](#%s)" % (t, slug(t)) for t, _ in sections) + ".")
    out.append("")
    for title, items in sections:
        out += ["## %s" % title, ""]
        consts = []
        for item in items + [("end",)]:
            if item[0] == "const":
                consts.append(item)
                continue
            if consts:
                out += ["| Constant | Value | Meaning |", "|---|---|---|"]
                for _, name, value, doc in consts:
                    out.append("| `%s` | `%s` | %s |" % (name, value, inline(doc).replace("|", "\\|")))
                out.append("")
                consts = []
            if item[0] == "prose":
                out += [prose(item[1])]
            elif item[0] in ("func", "type"):
                _, name, code, doc = item
                out += ["### `%s`" % name, "", "```c", code, "```", ""]
                if doc:
                    out += [prose(doc)]
    return "\n".join(out).rstrip("\n") + "\n"


def slug(title):
    """The anchor mkdocs' toc extension gives a heading."""
    s = re.sub(r"[^\w\s-]", "", title.lower()).strip()
    return re.sub(r"[-\s]+", "-", s)


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    header = args[0] if args else DEFAULT_HEADER
    out_path = args[1] if len(args) > 1 else DEFAULT_OUT
    with open(header, encoding="utf-8") as f:
        text = render(parse(f.read()), "include/edgeformer/edgeformer.h")
    if check:
        try:
            with open(out_path, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = ""
        if current != text:
            sys.stderr.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       out_path, "generated", n=1))
            sys.stderr.write("%s is out of date with %s: run scripts/gen-api-docs.py\n" % (out_path, header))
            return 1
        names = set(re.findall(r"^EF_API[^;]*?\b(ef_\w+)\s*\(", open(header, encoding="utf-8").read(), re.M | re.S))
        missing = [n for n in sorted(names) if "### `%s`" % n not in text]
        if missing:
            sys.stderr.write("functions missing from the reference: %s\n" % ", ".join(missing))
            return 1
        print("%s is up to date (%d functions)" % (out_path, len(names)))
        return 0
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s" % out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
