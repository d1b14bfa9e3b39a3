#!/bin/sh
# zsstat's test: the figures of a pool filled from known files agree with the files and with
# each other; a server's STAT lines print as the same tables; bad input fails cleanly; and the
# demo verifies every page of a small folder through both of its areas.
#   usage: test-zsstat.sh ZSSTAT DEMO
set -eu
zsstat=$1
demo=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zsstat-test.XXXXXX")
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "zsstat-test: FAIL: $*" >&2
	exit 1
}

# Files of known page counts: sources, a binary, an empty file, one partial page, and a
# folder (walked) holding some of them again.
mkdir -p "$tmp/in/sub"
cp libzs/*.c "$tmp/in/"
cp "$zsstat" "$tmp/in/sub/prog"
: >"$tmp/in/empty"
printf 'one partial page' >"$tmp/in/sub/short"
pages=0
for f in $(find "$tmp/in" -type f); do
	size=$(stat -c %s "$f")
	pages=$((pages + (size + 4095) / 4096))
done

"$zsstat" --stat --classes "$tmp/in" >"$tmp/stat" || fail "zsstat --stat exited $?"
stat_of() { awk -v k="$1" '$1 == "STAT" && $2 == k { print $3 }' "$tmp/stat" | tr -d '\r'; }
[ "$(stat_of pool_objs_used)" = "$pages" ] || fail "objects $(stat_of pool_objs_used), pages $pages"
[ "$(stat_of orig_data_size)" = $((pages * 4096)) ] || fail "orig_data_size $(stat_of orig_data_size)"
# Class by class, the figures add up to the pool's.
awk -v objs="$(stat_of pool_objs_used)" -v alloc="$(stat_of pool_objs_allocated)" \
    -v mem="$(stat_of mem_used_total)" -v huge="$(stat_of huge_pages)" '
	$1 == "STAT" && $2 ~ /^class:/ {
		sub(/\r$/, "", $3); split($2, k, ":"); v[k[2], k[3]] = $3; cls[k[2]] = 1
	}
	END {
		for (c in cls) {
			used += v[c, "obj_used"]; al += v[c, "obj_allocated"]; pg += v[c, "pages_used"]
			if (v[c, "objs_per_zspage"] == 1 && v[c, "pages_per_zspage"] == 1)
				hg += v[c, "obj_used"]
			if (v[c, "obj_used"] + 0 > v[c, "obj_allocated"] + 0) bad = bad " class " c
		}
		if (used != objs || al != alloc || pg * 4096 != mem || hg != huge || bad != "") {
			printf "classes: used %d/%d allocated %d/%d pages %d/%d huge %d/%d%s\n", \
				used, objs, al, alloc, pg * 4096, mem, hg, huge, bad
			exit 1
		}
	}' "$tmp/stat" || fail "class figures do not add up to the pool's"
compr=$(stat_of compr_data_size)
[ "$compr" -gt 0 ] && [ "$compr" -le $((pages * 4096)) ] || fail "compr_data_size $compr"

# The table shows the same pool: DATA is the pages, OBJECTS their count.
"$zsstat" "$tmp/in" >"$tmp/table" || fail "zsstat exited $?"
head -1 "$tmp/table" | grep -q "files, $pages pages" || fail "summary line: $(head -1 "$tmp/table")"
awk -v p="$pages" 'NR == 3 && $1 == "NAME" { h = 1 } NR == 4 && h && $8 == p { ok = 1 }
	END { exit !ok }' "$tmp/table" || fail "pool table: $(sed -n 3,4p "$tmp/table")"

# A server's STAT lines give the same tables: serve the lines above as zcache would.
grep -v ' class:' "$tmp/stat" >"$tmp/stats"
grep ' class:' "$tmp/stat" >"$tmp/stats-classes"
cat >"$tmp/server.py" <<'PY'
import socket, sys
d = sys.argv[1]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
print(srv.getsockname()[1], flush=True)
for _ in range(2):
    conn, _ = srv.accept()
    f = conn.makefile("rwb")
    for line in f:
        cmd = line.strip()
        if cmd == b"quit":
            break
        name = {b"stats": "stats", b"stats classes": "stats-classes"}.get(cmd)
        f.write(open(d + "/" + name, "rb").read() + b"END\r\n" if name else b"ERROR\r\n")
        f.flush()
    conn.close()
PY
python3 "$tmp/server.py" "$tmp" >"$tmp/port" &
server_pid=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$tmp/port" ] && break; sleep 0.2; done
port=$(cat "$tmp/port")
[ -n "$port" ] || fail "test server did not start"
"$zsstat" "127.0.0.1:$port" >"$tmp/remote" || fail "zsstat HOST:PORT exited $?"
"$zsstat" --classes "127.0.0.1:$port" >"$tmp/remote-classes" || fail "zsstat --classes HOST:PORT"
# The same text but for the summary line the files view starts with.
tail -n +3 "$tmp/table" >"$tmp/local"
"$zsstat" --classes "$tmp/in" | tail -n +3 >"$tmp/local-classes"
cmp -s "$tmp/remote" "$tmp/local" || fail "remote tables differ: $(diff "$tmp/remote" "$tmp/local")"
cmp -s "$tmp/remote-classes" "$tmp/local-classes" ||
	fail "remote classes differ: $(diff "$tmp/remote-classes" "$tmp/local-classes")"
wait "$server_pid" || true
server_pid=

# Bad input: exit codes and messages, never a crash.
set +e
"$zsstat" "$tmp/none" 2>"$tmp/err"; rc=$?
set -e
[ $rc = 1 ] && grep -q "none" "$tmp/err" || fail "missing file: exit $rc"
set +e
"$zsstat" >/dev/null 2>&1; rc=$?
set -e
[ $rc = 2 ] || fail "no argument: exit $rc"
set +e
"$zsstat" 127.0.0.1:1 2>/dev/null; rc=$?
set -e
[ $rc = 1 ] || fail "refused connection: exit $rc"

# The demo on a small folder, with a memory limit small enough that the file takes pages too.
"$demo" -m 0.1 "$tmp/in" >"$tmp/demo" 2>"$tmp/demo-err" || fail "demo exited $?: $(cat "$tmp/demo-err")"
grep -q "^verified   $pages pages, all intact" "$tmp/demo" || fail "demo: $(cat "$tmp/demo")"
grep -q "^swap file  .* past the memory limit" "$tmp/demo" || fail "demo: no file area line"
file_pages=$(awk '/^swap file/ { gsub(/[()]/, "", $6); print $6 }' "$tmp/demo")
[ "$file_pages" -gt 0 ] || fail "demo: the file area took no pages ($file_pages)"
echo "zsstat-test: ok ($pages pages; remote tables match; demo sent $file_pages pages to the file)"
