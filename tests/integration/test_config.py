#!/usr/bin/python3
"""byold's configuration and systemd integration, on a real daemon in a
temporary directory: --config values take effect (max_clients refuses the
next client, idle_timeout_s closes an idle one), flags override the file, bad
files (unknown key, wrong type, out of range, not JSON) stop byold naming the
key, SIGHUP with a bad file keeps the old limits and says so while SIGHUP with
a good one applies the new limits and names the keys that wait for a restart;
socket activation (the Unix and TCP listeners passed from fd 3 as systemd
does), the watchdog and STATUS= datagrams, and journald priority prefixes.
Exits non-zero on the first failed check.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byold_harness import BYOLD, SMALL, Client, run_tests  # noqa: E402

HELLO = b'{"jsonrpc":"2.0","id":1,"method":"server.hello"}\n'

# Runs byold with the given fds moved to 3, 4, ... and LISTEN_PID naming byold itself
# (exec keeps the pid), as systemd passes sockets.
ACTIVATE = ("import fcntl, os, sys\n"
            "fds = [fcntl.fcntl(int(f), fcntl.F_DUPFD_CLOEXEC, 100) for f in sys.argv[1].split(',')]\n"
            "for i, fd in enumerate(fds):\n"
            "    os.dup2(fd, 3 + i)\n"
            "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)))\n"
            "os.execv(sys.argv[2], sys.argv[2:])\n")


class Byold:
    """byold with the given arguments; a thread collects its stderr lines. With
    journal=True, $JOURNAL_STREAM names the stderr pipe as systemd would."""

    def __init__(self, args, env=None, journal=False, pass_fds=()):
        r, w = os.pipe()
        env = {**os.environ, **(env or {})}
        if journal:
            st = os.fstat(w)
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        cmd = [BYOLD] + args
        if pass_fds:
            cmd = [sys.executable, "-c", ACTIVATE, ",".join(map(str, pass_fds))] + cmd
        self.proc = subprocess.Popen(cmd, stderr=w, env=env, pass_fds=pass_fds)
        os.close(w)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, args=(r,), daemon=True)
        self.reader.start()

    def _read(self, fd):
        with os.fdopen(fd, errors="replace") as f:
            for line in f:
                with self.cond:
                    self.lines.append(line.rstrip("\n"))
                    self.cond.notify_all()

    def wait_for(self, pattern, since=0, timeout=30):
        """The first match of pattern in a stderr line from index since on."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines[since:]:
                    m = re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.time()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(f"no {pattern!r} in byold's stderr: {self.lines}")
                self.cond.wait(min(left, 0.2))

    def mark(self):
        """Index of the next stderr line, for wait_for(since=...)."""
        with self.cond:
            return len(self.lines)

    def ready(self):
        """The Unix socket path byold reports once listening."""
        return self.wait_for(r"listening on unix:(\S+)").group(1)

    def signal_and_wait(self, signum, pattern):
        """Send signum and wait for a log line matching pattern after it."""
        since = self.mark()
        self.proc.send_signal(signum)
        return self.wait_for(pattern, since)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.reader.join(10)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(10)


def unix_client(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    return Client(s)


def closed_by_server(sock, timeout=10):
    """Whether the daemon closes sock (EOF or reset) within timeout seconds, as it
    does to a client over max_clients or silent past idle_timeout_s."""
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def refused(path):
    """Whether a new client on path is closed instead of answered."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        try:
            s.sendall(HELLO)
        except (ConnectionResetError, BrokenPipeError):
            return True
        return closed_by_server(s, 5)
    finally:
        s.close()


def drain(sock, quiet=0.5):
    """The datagrams on sock until none comes for quiet seconds."""
    sock.settimeout(quiet)
    msgs = []
    try:
        while True:
            msgs.append(sock.recv(4096).decode())
    except socket.timeout:
        return msgs


class ConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.state = os.path.join(self.tmp.name, "var")
        self.conf = os.path.join(self.tmp.name, "byold.conf.json")
        self.daemons = []
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        for d in self.daemons:
            d.kill()
        self.tmp.cleanup()

    def write_config(self, obj):
        with open(self.conf, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))

    def start(self, args=(), **kw):
        d = Byold(["--state-dir", self.state, *args], **kw)
        self.daemons.append(d)
        return d

    def clients(self, path, n):
        """n connected clients, each answered once."""
        out = []
        for _ in range(n):
            c = unix_client(path)
            self.socks.append(c.sock)
            self.assertEqual(c.result("server.hello")["protocol"], "byol/1")
            out.append(c)
        return out

    def close_all(self, clients):
        for c in clients:
            c.file.close()
            c.sock.close()
        time.sleep(0.3)  # the daemon sees the EOFs

    def assert_max_clients(self, path, n):
        """n clients are served at once; one more is refused."""
        cs = self.clients(path, n)
        self.assertTrue(refused(path), f"client {n + 1} was served")
        self.assertEqual(cs[0].result("server.hello")["protocol"], "byol/1")
        self.close_all(cs)

    def test_file_limits_take_effect(self):
        self.write_config({"max_clients": 2, "idle_timeout_s": 1})
        path = self.start(["--config", self.conf]).ready()
        self.assert_max_clients(path, 2)
        c = self.clients(path, 1)[0]
        start = time.time()
        self.assertTrue(closed_by_server(c.sock, 10), "an idle client was not closed")
        self.assertGreater(time.time() - start, 0.5)

    def test_flags_override_file(self):
        other = os.path.join(self.tmp.name, "other.sock")
        self.write_config({"workers": 3, "socket": other})
        path = self.start(["--config", self.conf, "--workers", "2"]).ready()
        self.assertEqual(path, other)  # from the file
        self.assertEqual(self.clients(path, 1)[0].result("server.status")["workers"], 2)

    def test_configuration_directory(self):
        """Without --config, $CONFIGURATION_DIRECTORY/byold.conf.json if it exists."""
        self.write_config({"max_clients": 1})
        d = self.start(env={"CONFIGURATION_DIRECTORY": self.tmp.name})
        self.assert_max_clients(d.ready(), 1)
        self.assertEqual(d.stop(), 0)
        os.unlink(self.conf)
        d = self.start(env={"CONFIGURATION_DIRECTORY": self.tmp.name})
        path = d.ready()
        self.clients(path, 2)
        self.assertFalse(refused(path))  # the default max_clients

    def test_bad_config_exits_naming_the_key(self):
        cases = [({"max_clients": 5, "max_clinets": 5}, "max_clinets"),
                 ({"idle_timeout_s": "10"}, "idle_timeout_s"),
                 ({"workers": 1.5}, "workers"),
                 ({"max_line_bytes": 100}, "max_line_bytes"),
                 ({"max_clients": 100001}, "max_clients"),
                 ({"state-dir": 7}, "state-dir"),
                 ('{"max_clients": 2,', "not valid JSON")]
        for obj, key in cases:
            self.write_config(obj)
            r = subprocess.run([BYOLD, "--config", self.conf, "--state-dir", self.state],
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, obj)
            self.assertIn(key, r.stderr, obj)
            self.assertNotIn("listening", r.stderr)
        r = subprocess.run([BYOLD, "--workers", "0", "--state-dir", self.state],
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 64)
        self.assertIn("--workers", r.stderr)

    def test_sighup(self):
        self.write_config({"max_clients": 2})
        d = self.start(["--config", self.conf])
        path = d.ready()
        # A bad file: logged, and the old configuration stays whole.
        self.write_config({"max_clients": "lots", "idle_timeout_s": 1})
        m = d.signal_and_wait(signal.SIGHUP, r"reload: .*")
        self.assertIn("max_clients", m.group(0))
        self.assertIn("keeping the old configuration", m.group(0))
        self.assert_max_clients(path, 2)
        # A good file: the limits change now; workers waits for a restart.
        self.write_config({"max_clients": 3, "idle_timeout_s": 1, "workers": 2})
        d.signal_and_wait(signal.SIGHUP, r"reloaded")
        d.wait_for(r"reload: workers changed")
        self.assert_max_clients(path, 3)
        c = self.clients(path, 1)[0]
        self.assertTrue(closed_by_server(c.sock, 10), "the new idle timeout is not in force")
        self.assertEqual(unix_client(path).result("server.status")["workers"], 1)
        self.assertEqual(d.stop(), 0)

    def test_socket_activation(self):
        path = os.path.join(self.tmp.name, "activated.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(16)
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(16)
        unused = os.path.join(self.tmp.name, "unused.sock")
        d = self.start(["--socket", unused], pass_fds=(listener.fileno(), tcp.fileno()))
        self.assertEqual(d.ready(), path)
        port = int(d.wait_for(r"listening on tcp:127\.0\.0\.1:(\d+)").group(1))
        self.assertEqual(port, tcp.getsockname()[1])
        self.assertEqual(unix_client(path).result("server.hello")["protocol"], "byol/1")
        t = Client(socket.create_connection(("127.0.0.1", port), timeout=30))
        self.socks.append(t.sock)
        self.assertEqual(t.call("server.status")["error"]["code"], -32001)  # TCP needs auth
        self.assertFalse(os.path.exists(unused))
        self.assertEqual(d.stop(), 0)
        self.assertTrue(os.path.exists(path), "byold removed a socket it did not create")
        listener.close()
        tcp.close()

    def test_watchdog_and_status(self):
        notify = os.path.join(self.tmp.name, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify)
        sock.settimeout(30)
        self.socks.append(sock)
        d = self.start(env={"NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "200000"})
        path = d.ready()
        got, start = [], time.time()
        while sum(m == "WATCHDOG=1" for m in got) < 5:
            got.append(sock.recv(4096).decode())
        self.assertLess(time.time() - start, 5)
        ready = next(m for m in got if "READY=1" in m)
        self.assertIn("STATUS=listening; 0 running, 0 queued", ready)
        # STATUS= follows the jobs.
        c = self.clients(path, 1)[0]
        job_id = c.result("job.submit", {"preset": "fmnist-convnet",
                                         "set": {**SMALL, "train.epochs": 100000}})["job_id"]
        deadline = time.time() + 60  # WATCHDOG=1 keeps coming, so recv never times out
        while True:
            msg = sock.recv(4096).decode()
            if re.search(r"STATUS=listening; 1 running", msg):
                break
            self.assertLess(time.time(), deadline, "no STATUS= with the job running")
        c.result("job.cancel", {"job_id": job_id})
        self.assertEqual(d.stop(), 0)
        drain(sock)
        # A watchdog meant for another process is not ours.
        d = self.start(env={"NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "200000",
                            "WATCHDOG_PID": "1"})
        d.ready()
        msgs = drain(sock, 1)
        self.assertTrue([m for m in msgs if "READY=1" in m], msgs)
        self.assertFalse([m for m in msgs if "WATCHDOG=1" in m], msgs)

    def test_journal_prefixes(self):
        self.write_config({"max_clients": 5})
        d = self.start(["--config", self.conf], journal=True)
        d.wait_for(r"^<6>byold: listening on unix:")
        self.write_config({"max_clients": "x"})
        d.signal_and_wait(signal.SIGHUP, r"^<3>byold: reload: .*max_clients")
        self.write_config({"workers": 2})
        d.signal_and_wait(signal.SIGHUP, r"^<4>byold: reload: workers changed")
        self.assertEqual(d.stop(), 0)
        self.assertTrue(all(re.match(r"<[346]>byold: ", l) for l in d.lines), d.lines)
        # Another stream's dev:ino (stderr redirected): no prefixes.
        d = self.start(env={"JOURNAL_STREAM": "1:1"})
        self.assertTrue(d.wait_for(r"listening on unix:").string.startswith("byold: "))


if __name__ == "__main__":
    run_tests()
