#!/usr/bin/python3
"""test_twemproxy.py - three zcache instances behind twemproxy (nutcracker), as a deployment
that outgrew one machine runs them: consistent hashing (ketama), failed servers ejected.

  usage: /usr/bin/python3 examples/zcache/test_twemproxy.py ZCACHE_BINARY [NUTCRACKER]

Starts three zcache instances and nutcracker on free loopback ports (the configuration is the
README's, "zcache behind twemproxy"), loads keys through the proxy with pymemcache, checks they
spread over the three and all read back intact, then stops one instance and checks that the
proxy ejects it (auto_eject_hosts; its stats count the ejection) and that the other two keep
serving: their keys still read back, and new keys are stored on them.  Exits non-zero on the
first failure; every process it started is stopped on exit.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheError

from zctest import free_port, stop_all, wait_listen

ZCACHE = sys.argv[1] if len(sys.argv) > 1 else "build/examples/zcache/zcache"
NUTCRACKER = sys.argv[2] if len(sys.argv) > 2 else "/usr/sbin/nutcracker"
KEYS = 3000
procs = []

CONFIG = """zcache:
  listen: 127.0.0.1:{listen}
  hash: fnv1a_64
  distribution: ketama
  timeout: 2000
  auto_eject_hosts: true
  server_failure_limit: 2
  server_retry_timeout: 600000
  preconnect: false
  servers:
{servers}
"""


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok  " + what)


def proxy_stats(port):
    """nutcracker's stats: one JSON document per connection to its stats port."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    return json.loads(data)


def main():
    zports = [free_port() for _ in range(3)]
    zprocs = []
    for p in zports:
        proc = subprocess.Popen([ZCACHE, "-p", str(p), "-t", "2"], stderr=subprocess.DEVNULL)
        procs.append(proc)
        zprocs.append(proc)
        wait_listen(p, proc, "zcache")
    listen, stats_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "nutcracker.yml")
        with open(conf, "w") as f:
            f.write(CONFIG.format(listen=listen, servers="\n".join(
                "   - 127.0.0.1:%d:1 zcache%d" % (p, i) for i, p in enumerate(zports))))
        nc = subprocess.Popen([NUTCRACKER, "-c", conf, "-s", str(stats_port), "-a", "127.0.0.1",
                               "-o", os.path.join(d, "nutcracker.log")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(nc)
        wait_listen(listen, nc, "nutcracker")
        c = Client(("127.0.0.1", listen), connect_timeout=10, timeout=10, default_noreply=False)
        vals = {"user:%d" % i: ("profile %d " % i).encode() * (i % 30 + 1) for i in range(KEYS)}
        keys = list(vals)
        for i in range(0, KEYS, 100):
            failed = c.set_many({k: vals[k] for k in keys[i:i + 100]})
            assert not failed, "the proxy refused %d keys" % len(failed)
        counts = [Client(("127.0.0.1", p), timeout=10).stats()[b"curr_items"] for p in zports]
        check(sum(counts) == KEYS and min(counts) > KEYS // 6,
              "ketama through nutcracker spreads %d keys over 3 zcache instances: %s" % (
                  KEYS, counts))
        got = {}
        for i in range(0, KEYS, 100):
            got.update(c.get_many(keys[i:i + 100]))
        check(got == vals, "all %d keys read back intact through the proxy" % KEYS)

        # Which keys live on the instance about to go, by asking each instance directly.
        direct = Client(("127.0.0.1", zports[0]), timeout=10)
        on_dead = set(k for i in range(0, KEYS, 100)
                      for k in direct.get_many(keys[i:i + 100]))
        direct.close()
        check(len(on_dead) == counts[0], "the first instance holds %d of them" % len(on_dead))
        zprocs[0].terminate()
        zprocs[0].wait(10)

        # Requests for the dead instance's keys fail until nutcracker has counted
        # server_failure_limit failures and ejected it; then they are routed to the others.
        ejected = False
        deadline = time.time() + 60
        probe = sorted(on_dead)
        while not ejected and time.time() < deadline:
            for k in probe[:20]:
                try:
                    c.get(k)
                except (MemcacheError, OSError):
                    c.close()
            st = proxy_stats(stats_port)
            ejected = st["zcache"]["server_ejects"] >= 1
            if not ejected:
                time.sleep(0.2)
        check(ejected, "nutcracker ejected the stopped instance (server_ejects %d)" %
              proxy_stats(stats_port)["zcache"]["server_ejects"])
        survivors = [k for k in keys if k not in on_dead]
        got = {}
        for i in range(0, len(survivors), 100):
            got.update(c.get_many(survivors[i:i + 100]))
        check(got == {k: vals[k] for k in survivors},
              "the other two instances still serve their %d keys" % len(survivors))
        missing = c.get_many(probe[:100])
        check(missing == {}, "the ejected instance's keys are misses now, not errors")
        fresh = {"new:%d" % i: b"v%d" % i for i in range(500)}
        for k, v in fresh.items():
            assert c.set(k, v), "set through the proxy failed after the ejection"
        check(c.get_many(list(fresh)) == fresh,
              "500 new keys stored and read back on the remaining instances")
        after = [Client(("127.0.0.1", p), timeout=10).stats()[b"curr_items"] for p in zports[1:]]
        check(sum(after) == sum(counts[1:]) + len(fresh),
              "the new keys went to the two live instances: %s" % after)
        c.close()
    print("twemproxy: all tests passed")


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all(procs)
