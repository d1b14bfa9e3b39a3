"""zctest.py - what zcache's test scripts share: free loopback ports, waiting for a server to
listen, and stopping every process a test started."""
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listen(port, proc, what, tries=400):
    """Until @port accepts a connection; fails if @proc exits first."""
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError("%s exited with %s" % (what, proc.returncode))
            time.sleep(0.05)
    raise AssertionError("%s did not listen on %d" % (what, port))


def stop_all(procs):
    """SIGTERM every process still running, then SIGKILL those that do not go in 5 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
