"""Shared helpers for the byold integration tests: a real build/byold on a
temporary state directory, driven by line-framed JSON-RPC over its Unix socket
or loopback TCP (port 0). Not a test itself (tests/run.sh runs test_*.py).

BUILD (environment, default "build") selects the build directory.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BUILD = os.environ.get("BUILD", "build")
BYOLD = os.path.join(BUILD, "byold")
FMNIST = "/usr/share/datasets/fashion-mnist"
# A job of a few seconds on 2 cores: 4 steps an epoch, 8 in all, a checkpoint every 4.
SMALL = {"data.limit": 256, "eval_data.limit": 64, "model.width": 0.125,
         "model.projector": {"hidden": 32, "out": 16},
         "model.predictor": {"hidden": 32, "out": 16}, "train.batch_size": 64,
         "train.epochs": 2, "optim.warmup_epochs": 0, "train.log_every": 1,
         "eval.linear.epochs": 1, "eval.knn.k": 5, "threads": 1,
         "checkpoint.every_steps": 4}
FINAL_STATES = ("completed", "failed", "cancelled")
# Under `make asan` the sanitiser's quarantine and slowdown make memory and speed
# figures meaningless: tests still print them but do not judge them.
SANITIZED = bool(os.environ.get("BYOL_SANITIZED"))
# How much longer waits for training may take under a sanitizer (ThreadSanitizer runs
# the compute core 5-15 times slower).
SLOW = 8 if SANITIZED else 1


class Client:
    """A JSON-RPC 2.0 client over one connection, one request at a time; notifications
    (job.event) that arrive meanwhile are kept in self.events, oldest first."""

    def __init__(self, sock):
        self.sock = sock
        self.file = sock.makefile("rw")
        self.next_id = 0
        self.events = []

    def read(self):
        """The next message, or None at end of stream."""
        line = self.file.readline()
        return json.loads(line) if line else None

    def next_event(self, timeout=60):
        """The next job.event's params (waiting up to timeout seconds)."""
        if not self.events:
            self.sock.settimeout(timeout)
            try:
                msg = self.read()
            finally:
                self.sock.settimeout(None)
            assert msg and "id" not in msg and msg["method"] == "job.event", msg
            self.events.append(msg["params"])
        return self.events.pop(0)

    def call(self, method, params=None):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.file.write(json.dumps(msg) + "\n")
        self.file.flush()
        reply = self.read()
        while reply is not None and "id" not in reply:
            self.events.append(reply["params"])
            reply = self.read()
        assert reply is not None and reply["id"] == self.next_id, reply
        return reply

    def result(self, method, params=None):
        reply = self.call(method, params)
        assert "result" in reply, reply
        return reply["result"]

    def close(self):
        try:
            self.file.close()
        finally:
            self.sock.close()


def byold_help():
    """byold --help's text (to see which options this build has)."""
    return subprocess.run([BYOLD, "--help"], capture_output=True, text=True,
                          timeout=10).stdout


def unix_connect(path, timeout):
    """A Unix stream socket connected to path, with timeout for its reads. A full
    listen backlog makes connect fail with EAGAIN at once (a socket with a timeout
    is non-blocking underneath): retry until timeout."""
    deadline = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.01)


class Daemon:
    """byold on a state directory, started and stopped by the test.

    args are extra command-line arguments; config (a dict) is written to a JSON
    file passed with --config. stderr is read by a thread into self.log (a list
    of lines) so the daemon never blocks on a full pipe."""

    def __init__(self, state, env=None, args=(), config=None, tcp=True, timeout=30):
        self.state = state
        self.log = []
        self.tcp_port = None
        cmd = [BYOLD, "--state-dir", state]
        if tcp:
            cmd += ["--listen", "127.0.0.1:0"]
        if config is not None:
            os.makedirs(state, exist_ok=True)
            path = os.path.join(os.path.dirname(os.path.abspath(state)),
                                os.path.basename(state) + ".config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            cmd += ["--config", path]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True,
                                     errors="replace", env={**os.environ, **(env or {})})
        self.pid = self.proc.pid
        ready = threading.Event()
        eof = threading.Event()

        def reader():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"tcp:127\.0\.0\.1:(\d+)", line)
                if m:
                    self.tcp_port = int(m.group(1))
                if m or (not tcp and "listening on unix:" in line):
                    ready.set()
            eof.set()  # byold exited (or closed stderr)
            ready.set()

        self.reader = threading.Thread(target=reader, daemon=True)
        self.reader.start()
        ready.wait(timeout)
        problem = ("byold exited" if eof.is_set() or self.proc.poll() is not None
                   else "byold did not report its TCP port" if tcp and not self.tcp_port
                   else None)
        if problem:
            self.close()  # no process or pipe outlives a failed start
            raise AssertionError(f"{problem}: {self.stderr_text()}")

    @property
    def socket_path(self):
        return os.path.join(self.state, "byold.sock")

    def unix(self, timeout=60):
        return Client(unix_connect(self.socket_path, timeout))

    def tcp(self, timeout=60):
        return Client(socket.create_connection(("127.0.0.1", self.tcp_port), timeout=timeout))

    def raw_unix(self, timeout=10):
        return unix_connect(self.socket_path, timeout)

    def raw_tcp(self, timeout=10):
        return socket.create_connection(("127.0.0.1", self.tcp_port), timeout=timeout)

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self):
        """VmRSS of byold in KiB."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self, timeout=60):
        """SIGTERM; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(5)
        return rc

    def kill(self):
        """SIGKILL and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.reader.join(5)

    def close(self):
        """Always safe (tearDown): kill if still running, close the pipe."""
        self.kill()
        if self.proc.stderr:
            self.proc.stderr.close()

    def stderr_text(self):
        return "".join(self.log)


def wait_done(client, job_id, timeout=120, poll=0.1):
    """Poll job.get until the job is completed, failed or cancelled; the job. The
    timeout stretches by SLOW under a sanitizer."""
    timeout *= SLOW
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.result("job.get", {"job_id": job_id})
        if job["state"] in FINAL_STATES:
            return job
        time.sleep(poll)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def wait_for(predicate, timeout, poll=0.05, what="condition"):
    """Poll predicate() until it returns a true value; that value (the timeout
    stretches by SLOW under a sanitizer)."""
    timeout *= SLOW
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class RawConn:
    """Bytes in, lines out, on one socket: for malformed input and for watching the
    daemon close a connection. Every read is bounded by timeout seconds."""

    def __init__(self, sock, timeout=10):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def send_lossy(self, data):
        """Send, but a daemon that closed meanwhile is not an error; bytes sent."""
        sent = 0
        try:
            while sent < len(data):
                sent += self.sock.send(data[sent:sent + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sent

    def line(self):
        """The next line, parsed as JSON; None at end of stream (or a reset)."""
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params=None, id=1):
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(json.dumps(msg).encode() + b"\n")
        return self.line()

    def silent(self, wait=0.3):
        """True if nothing arrives (and the stream stays open) for wait seconds."""
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(old)
        self.buf += chunk
        return False

    def closed(self):
        """True if the daemon closed the stream (end of stream or a reset) before
        the timeout; bytes still buffered are kept in self.buf."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class Alarm(Exception):
    pass


class DaemonTest(unittest.TestCase):
    """A test that starts its own byolds (self.start) on a temporary state directory
    (self.state) and must end within ALARM_S seconds (stretched by SLOW under a
    sanitizer); every daemon is closed and the directory removed whatever happens."""
    ALARM_S = 150
    PREFIX = "byold-test-"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix=self.PREFIX)
        self.state = os.path.join(self.tmp.name, "var")
        self.daemons = []
        limit = self.ALARM_S * SLOW

        def alarm(signum, frame):
            raise Alarm(f"test took longer than {limit} s")
        signal.signal(signal.SIGALRM, alarm)
        signal.alarm(limit)

    def tearDown(self):
        signal.alarm(0)
        for d in self.daemons:
            d.close()
        self.tmp.cleanup()

    def start(self, state=None, **kw):
        d = Daemon(state or self.state, **kw)
        self.daemons.append(d)
        return d


def run_tests():
    """unittest.main for a test file run by tests/run.sh: verbose, a closing
    "N passed, N failed" line, and the exit status."""
    result = unittest.main(exit=False, verbosity=2, warnings="ignore").result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(0 if result.wasSuccessful() else 1)
