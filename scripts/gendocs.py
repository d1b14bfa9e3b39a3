#!/usr/bin/env python3
"""Generate the API reference pages in docs/ from the public headers' comments.

The headers are the source of truth: every public call, type and constant of a header gets a
section built from its declaration and the comment block above it, so the pages cannot say
anything the header does not.  A call's comment is read in parts:

    name - what it does (first paragraph, continued on the following lines)
    @param: what the parameter is
    @return what comes back, with every error code
    Threading: who may call it when
    Kernel: the kernel's equivalent and how this one differs

A call whose comment has no Threading: part gets the header's library-wide rule (the
"Threading:" paragraph of the header's opening comment).  Each call also gets an example: the
lines around its first use in examples/, so the snippet is code that is built and run by
`make test`.

    python3 scripts/gendocs.py            write docs/libzs.md, docs/libswap.md, docs/region.md
    python3 scripts/gendocs.py --check    exit 1 (and say "run make docs") if they differ

Plain python3, no third-party modules.
"""
import difflib
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (header, page, title, examples searched for snippets, in order of preference)
PAGES = [
    ("include/zs/zsmalloc.h", "docs/libzs.md", "libzs reference (`#include <zs/zsmalloc.h>`)",
     ["examples/basic.c", "examples/zs_cache.c"]),
    ("include/zs/swap.h", "docs/libswap.md", "libswap reference (`#include <zs/swap.h>`)",
     ["examples/swap_memory.c", "examples/swap_tiers.c", "examples/swap_lowlevel.c",
      "examples/swap_uffd.c"]),
    ("include/zs/region.h", "docs/region.md",
     "libswap regions reference (`#include <zs/region.h>`)",
     ["examples/swap_region.c", "examples/demo/region_demo.c"]),
]

SNIPPET_MAX = 12  # lines of example shown per call

TOKEN = re.compile(r"""
    (?P<comment>/\*.*?\*/)
  | (?P<pp>\#(?:[^\n\\]|\\.)*(?:\\\n(?:[^\n\\]|\\.)*)*)
  | (?P<ws>\s+)
  | (?P<close>\})
  | (?P<code>[^/#\s][^;{}]*?(?:;|\{))
""", re.S | re.X)


def comment_text(c):
    """The text of a /* */ comment with its frame (leading ' * ') removed, as lines."""
    body = c[2:-2]
    lines = []
    for ln in body.split("\n"):
        ln = ln.rstrip()
        m = re.match(r"^\s*\* ?(.*)$", ln)
        lines.append(m.group(1) if m else ln.strip())
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_block(src, pos):
    """From the '{' at src[pos-1], return the index just past its matching '}'."""
    depth = 1
    while depth:
        ch = src[pos]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif src.startswith("/*", pos):
            pos = src.index("*/", pos) + 1
        pos += 1
    return pos


class Item:
    def __init__(self, kind, names, code, comment, group):
        self.kind = kind        # "func", "inline", "type", "const"
        self.names = names      # names declared (first one is the section's title)
        self.code = code        # the declaration as it stands in the header
        self.comment = comment  # lines of the comment above it (may be empty)
        self.group = group      # the "---- title ----" separator it follows, or None


def parse_header(path, api_macro):
    src = open(os.path.join(TOP, path)).read()
    items, pending, group = [], None, None
    intro = None
    pp_depth = 0  # #if nesting below the include guard
    pos = 0
    while pos < len(src):
        m = TOKEN.match(src, pos)
        if not m:
            raise SystemExit("%s: cannot parse at offset %d: %r" % (path, pos, src[pos:pos + 40]))
        pos = m.end()
        if m.group("ws"):
            if m.group("ws").count("\n") > 1:
                pending = None  # a blank line detaches a comment from what follows
            continue
        if m.group("comment"):
            text = comment_text(m.group("comment"))
            if intro is None:
                intro = text
                continue
            sep = re.match(r"^-{3,}\s*(.*?)\s*-{3,}$", " ".join(text))
            if sep:
                group, pending = sep.group(1), None
                continue
            pending = text
            continue
        if m.group("pp"):
            line = m.group("pp")
            if re.match(r"#\s*if", line):
                pp_depth += 1
            elif re.match(r"#\s*endif", line):
                pp_depth -= 1
            d = re.match(r"#\s*define\s+(\w+)", line)
            # the include guard is depth 1; the export macros live in #if blocks deeper down
            if d and pp_depth == 1 and not d.group(1).endswith("_H"):
                prev = items[-1] if items else None
                if (prev and prev.kind == "const" and pending is None
                        and src[m.start() - 1] == "\n" and prev.end == m.start() - 1):
                    prev.names.append(d.group(1))  # a run of defines under one comment
                    prev.code += "\n" + line
                else:
                    items.append(Item("const", [d.group(1)], line, pending or [], group))
                items[-1].end = m.end()
                pending = None
            continue
        if m.group("close"):  # the end of extern "C" {
            continue
        code = m.group("code")
        if code.startswith("extern"):  # extern "C" {
            continue
        if code.endswith("{"):
            end = read_block(src, pos)
            tail = re.match(r"[^;{}]*;", src[end:])
            if tail and not code.lstrip().startswith("static"):
                end += tail.end()
            code = src[m.start():end]
            pos = end
        code = code.strip()
        if code.startswith("}"):
            continue
        code = re.sub(r"\b%s\s+" % api_macro, "", code)
        if "(" in code and "{" not in code.split("(")[0]:
            name = re.search(r"(\w+)\s*\(", code).group(1)
            kind = "inline" if code.startswith("static inline") else "func"
            if kind == "inline":
                code = code[:code.index("{")].rstrip()  # the signature is the reference
            code = wrap_prototype(code)
            items.append(Item(kind, [name], code, pending or [], group))
        else:
            t = re.match(r"typedef\s.*\}\s*(\w+)\s*;$", code, re.S)
            if t:
                name = t.group(1)
            else:
                name = re.match(r"((?:struct|enum|union)\s+\w+)", code).group(1)
            items.append(Item("type", [name], code, pending or [], group))
        pending = None
    return intro or [], items


def wrap_prototype(code):
    """One line if it fits in 96 columns, else wrapped at commas under the opening '('."""
    code = " ".join(code.split())
    if len(code) <= 96:
        return code
    col = code.index("(") + 1
    lines, cur = [], code[:col]
    for arg in code[col:].split(", "):
        if len(cur) + len(arg) + 2 > 96 and cur.strip() and not cur.endswith("("):
            lines.append(cur.rstrip() + ",")
            cur = " " * col + arg
        else:
            cur += ("" if cur.endswith("(") else ", ") + arg
    return "\n".join(lines + [cur])


def split_parts(lines, name):
    """Split a call's comment into summary/description, @params, return, threading, kernel."""
    parts = {"desc": [], "params": [], "return": [], "threading": [], "kernel": []}
    cur = parts["desc"]
    for ln in lines:
        s = ln.strip()
        pm = re.match(r"^@(\w+):\s*(.*)$", s)
        if s.startswith("@return"):
            cur = parts["return"]
            cur.append(s[len("@return"):].strip())
        elif pm:
            parts["params"].append([pm.group(1), pm.group(2)])
            cur = parts["params"][-1]
        elif s.startswith("Threading:"):
            cur = parts["threading"]
            cur.append(s[len("Threading:"):].strip())
        elif s.startswith("Kernel:"):
            cur = parts["kernel"]
            cur.append(s[len("Kernel:"):].strip())
        elif cur is parts["return"] and re.match(r"^\s+-E[A-Z]+\s{2,}", ln):
            cur.append("\n" + s)  # one error per line in a list of them
        else:
            if parts["params"] and cur is parts["params"][-1]:
                cur[1] += " " + s
            else:
                cur.append(s)
    d = " ".join(parts["desc"]).strip()
    d = re.sub(r"^%s\s+-\s+" % re.escape(name), "", d)
    parts["desc"] = d
    for k in ("return", "threading", "kernel"):
        parts[k] = " ".join(parts[k]).replace(" \n", "\n").strip()
    return parts


def prose(lines):
    """Comment lines to markdown paragraphs; indented lines (tables) stay preformatted."""
    out, para, pre = [], [], []
    for ln in lines + [""]:
        if ln.strip() and (ln.startswith("  ") or (pre and "   " in ln.strip())):
            if para:
                out += [paragraph(" ".join(para)), ""]
                para = []
            pre.append(ln)
            continue
        if pre:
            out += ["```text"] + pre + ["```", ""]
            pre = []
        if ln.strip():
            para.append(ln.strip())
        elif para:
            out += [paragraph(" ".join(para)), ""]
            para = []
    return out


def first_clause(text):
    """Text up to the first '.', ';' or ':' that ends a clause outside parentheses."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch in ".;:" and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i]
    return text


def paragraph(text):
    """Header prose to markdown: @name -> `name`, name() -> `name()`."""
    text = re.sub(r"@(\w+)", r"`\1`", text)
    text = re.sub(r"(?<![`\w])(\w+\(\))", r"`\1`", text)
    return text


def find_snippet(name, examples):
    pat = re.compile(r"\b%s\s*\(" % re.escape(name))
    for ex in examples:
        path = os.path.join(TOP, ex)
        if not os.path.exists(path):
            continue
        lines = open(path).read().split("\n")
        in_comment = False
        for i, ln in enumerate(lines):
            s = ln.strip()
            if s.startswith("/*"):
                in_comment = "*/" not in s
                continue
            if in_comment:
                in_comment = "*/" not in s
                continue
            if s.startswith("#") or not pat.search(ln):
                continue
            # the blank-line-delimited paragraph around the use, inside the function body
            # (no line at indentation 0), starting at no closing brace it did not open
            lo = i
            while (lo > 0 and lines[lo - 1].strip() and lines[lo - 1][:1].isspace()
                   and i - lo < SNIPPET_MAX // 2):
                lo -= 1
            if lo > 0 and lines[lo - 1].strip():
                # the paragraph is long: start at the comment that introduces the use
                starts = [k for k in range(lo, i + 1) if lines[k].strip().startswith("/*")]
                lo = starts[-1] if starts else lo
            depth = 0
            for j in range(lo, i):
                depth += lines[j].count("{") - lines[j].count("}")
                if depth < 0:
                    lo, depth = j + 1, 0
            # then to the end of the paragraph, at most SNIPPET_MAX lines, cut where a block
            # closes that the snippet did not open, or continued until the blocks it opened close
            hi = i
            while True:
                depth += lines[hi].count("{") - lines[hi].count("}")
                if depth < 0:
                    hi -= 1
                    break
                nxt = lines[hi + 1] if hi + 1 < len(lines) else ""
                if depth == 0 and (not nxt.strip() or hi - lo + 1 >= SNIPPET_MAX):
                    break
                if hi - lo + 1 >= 2 * SNIPPET_MAX or hi + 1 >= len(lines):
                    break
                hi += 1
            block = [l.replace("\t", "    ") for l in lines[lo:hi + 1]]
            ind = min(len(l) - len(l.lstrip()) for l in block if l.strip())
            block = [l[ind:] for l in block]
            return ex, lo + 1, hi + 1, "\n".join(block)
    return None


def library_rule(intro, word):
    """The paragraph of the header's opening comment that starts with @word ("Threading:")."""
    paras, cur = [], []
    for ln in intro + [""]:
        if ln.strip():
            cur.append(ln.strip())
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    for p in paras:
        if p.startswith(word):
            return p[len(word):].strip()
    return ""


def render(header, title, examples):
    api = "ZS_API" if header.endswith("zsmalloc.h") else "SWAP_API"
    intro, items = parse_header(header, api)
    out = ["<!-- Generated by scripts/gendocs.py from %s: edit the header, then run"
           " `make docs`. -->" % header, "", "# " + title, ""]
    out += prose(intro)
    calls = [it for it in items if it.kind in ("func", "inline")]
    out += ["## Calls", "", "| call | what it does |", "|---|---|"]
    for it in calls:
        summary = split_parts(it.comment, it.names[0])["desc"]
        summary = first_clause(summary)
        out.append("| [`%s`](#%s) | %s |" % (it.names[0], it.names[0], paragraph(summary)))
    out.append("")

    out += ["## Types and constants", ""]
    for it in items:
        if it.kind not in ("type", "const"):
            continue
        label = ", ".join("`%s`" % n for n in it.names)
        anchors = "".join('<a id="%s"></a>' % re.sub(r"\W+", "-", n) for n in it.names)
        out += ["### %s %s" % (anchors, label), "", "```c", it.code, "```", ""]
        if it.comment:
            out += prose(it.comment)
        elif it.kind == "type" and it.code.endswith(";") and "{" not in it.code:
            out += ["Opaque: callers only hold pointers to it.", ""]

    rule = library_rule(intro, "Threading:")
    common = {}
    for part in library_rule(intro, "Parameters used throughout:").split(";"):
        pm = re.match(r"\s*@(\w+)\s+(.*?)\.?\s*$", part)
        if pm:
            common[pm.group(1)] = pm.group(2)
    group = None
    out += ["## Functions", ""]
    for it in calls:
        if it.group != group:
            group = it.group
            out += ["## " + group[0].upper() + group[1:], ""]
        name = it.names[0]
        p = split_parts(it.comment, name)
        out += ['### <a id="%s"></a>`%s`' % (name, name), "", "```c", it.code, "```", ""]
        if it.kind == "inline":
            out += ["*Inline function in the header (no exported symbol).*", ""]
        if p["desc"]:
            out += [paragraph(p["desc"][0].upper() + p["desc"][1:]), ""]
        args = re.search(r"\((.*)\)", it.code, re.S).group(1)
        params = []
        for a in args.split(","):
            a = " ".join(a.split())
            if a in ("void", ""):
                continue
            pname = re.search(r"(\w+)\s*$", a).group(1)
            params.append((pname, a))
        if params:
            out.append("**Parameters**")
            out.append("")
            described = dict((k, v) for k, v in p["params"])
            for pname, decl in params:
                d = described.get(pname, common.get(pname))
                out.append("- `%s`%s" % (decl, ": " + paragraph(d) if d else ""))
            out.append("")
        if p["return"]:
            ret = paragraph(p["return"]).split("\n")
            errs = [re.sub(r"^(-E[A-Z]+)\s+", r"`\1` ", r) for r in ret[1:]]
            out += ["**Returns** " + ret[0]] + ["- " + r for r in errs] + [""]
        elif it.code.startswith("void") or it.code.startswith("static inline void"):
            out += ["**Returns** nothing.", ""]
        codes = []
        for c in re.findall(r"\bE[A-Z0-9]{2,}\b", p["return"]):
            if c not in codes and c != "EOF":
                codes.append(c)
        out += ["**Error codes:** " + (", ".join("`%s`" % c for c in codes) if codes
                                       else "none (this call cannot fail)."), ""]
        if p["threading"]:
            out += ["**Threading:** " + paragraph(p["threading"]), ""]
        elif rule and it.kind == "func":
            out += ["**Threading:** library-wide rule: " + paragraph(rule), ""]
        elif it.kind == "inline":
            out += ["**Threading:** pure computation on its arguments; any thread.", ""]
        if p["kernel"]:
            out += ["**Kernel:** " + paragraph(p["kernel"]), ""]
        snip = find_snippet(name, examples)
        if snip:
            ex, lo, hi, text = snip
            out += ["**Example** ([%s, lines %d-%d](../%s#L%d-L%d)):" % (ex, lo, hi, ex, lo, hi),
                    "", "```c", text, "```", ""]
    while out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for header, page, title, examples in PAGES:
        if not os.path.exists(os.path.join(TOP, header)):
            continue
        text = render(header, title, examples)
        path = os.path.join(TOP, page)
        old = open(path).read() if os.path.exists(path) else ""
        if old == text:
            continue
        if check:
            stale.append(page)
            diff = difflib.unified_diff(old.split("\n"), text.split("\n"), page,
                                        page + " (from " + header + ")", lineterm="", n=1)
            sys.stdout.write("\n".join(list(diff)[:40]) + "\n")
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print("gendocs: wrote " + page)
    if stale:
        print("docs: %s out of date with the headers or examples: run make docs"
              % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
