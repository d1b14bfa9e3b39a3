#!/usr/bin/env python3
"""update-readme.py - paste the figure table that `make bench` generated
(bench/results/readme-table.md) into README.md between the lines
<!-- figures:begin --> and <!-- figures:end -->, replacing what was there.

usage: python3 bench/update-readme.py [README.md] [TABLE.md]

Fails (exit 1, README untouched) when the markers are missing, repeated or out of order, so a
figure table is never typed or pasted by hand.  Python standard library only.
"""
import os
import sys

BEGIN = "<!-- figures:begin -->"
END = "<!-- figures:end -->"


def main():
    readme = sys.argv[1] if len(sys.argv) > 1 else "README.md"
    table_path = sys.argv[2] if len(sys.argv) > 2 else "bench/results/readme-table.md"
    with open(readme) as f:
        lines = f.read().split("\n")
    with open(table_path) as f:
        table = f.read().strip("\n").split("\n")
    begins = [i for i, l in enumerate(lines) if l.strip() == BEGIN]
    ends = [i for i, l in enumerate(lines) if l.strip() == END]
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        sys.exit("update-readme: %s needs exactly one '%s' line followed by one '%s' line"
                 % (readme, BEGIN, END))
    new = lines[: begins[0] + 1] + table + lines[ends[0]:]
    if new == lines:
        print("update-readme: %s already holds %s" % (readme, table_path))
        return
    tmp = readme + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(new))
    os.replace(tmp, readme)
    print("update-readme: %s: figures from %s pasted (%d lines)" % (readme, table_path,
                                                                   len(table)))


if __name__ == "__main__":
    main()
