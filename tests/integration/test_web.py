#!/usr/bin/python3
"""byold's dashboard listener (--http) against hostile clients: without a session
nothing under /api/ answers and nothing runs; a foreign Host (DNS rebinding) is
refused; a POST without the CSRF token, or from another origin, is refused; a
WebSocket needs the session, its CSRF token and our Origin; `..` and encoded
traversal find no file; failed logins are logged and limited; oversized headers,
slowloris connections and 500 connections at once are bounded while byold keeps
answering (the latency of server.hello over its socket and of GET / is printed).
"""
import http.client
import json
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from byold_harness import SLOW, run_tests, wait_for  # noqa: E402
from web_client import Web, WebSocketRefused, token_of, web_daemon  # noqa: E402

QUICK = {"data.limit": 512, "eval_data.limit": 256, "train.epochs": 1, "optim.warmup_epochs": 0,
         "train.batch_size": 128, "eval.linear.epochs": 1, "train.log_every": 1}


def latency(fn, n=5):
    """The worst of n calls' seconds."""
    worst = 0.0
    for _ in range(n):
        t = time.perf_counter()
        fn()
        worst = max(worst, time.perf_counter() - t)
    return worst


class WebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.state = os.path.join(cls.tmp.name, "var")
        cls.daemon, cls.port = web_daemon(cls.state, config={"http_max_connections": 64})
        cls.token = token_of(cls.state)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()
        cls.tmp.cleanup()

    def setUp(self):
        self.web = Web(self.port)

    def logged_in(self):
        w = Web(self.port)
        self.assertEqual(w.login(self.token)[0], 200)
        return w

    def jobs(self):
        c = self.daemon.unix()
        try:
            return c.result("job.list")["jobs"]
        finally:
            c.close()

    def test_the_page_and_its_headers(self):
        status, h, body = self.web.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b'<script src="/app.js">', body)
        self.assertIn("script-src 'self'", h["content-security-policy"])
        self.assertNotIn("unsafe-inline", h["content-security-policy"])
        self.assertEqual(h["x-frame-options"], "DENY")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertNotIn("access-control-allow-origin", h)
        for path, kind in (("/app.js", "text/javascript"), ("/app.css", "text/css")):
            status, h, body = self.web.request("GET", path)
            self.assertEqual((status, h["content-type"].split(";")[0]), (200, kind))
            self.assertGreater(len(body), 100)

    def test_without_a_session_nothing_answers_and_nothing_runs(self):
        before = self.jobs()
        self.assertEqual(self.web.request("GET", "/api/session")[0], 401)
        status, body = self.web.rpc("job.submit", {"preset": "fmnist-quick"})
        self.assertEqual(status, 401)
        self.assertNotIn("result", body)
        self.web.csrf = "0" * 64  # a guessed token does not stand in for a session
        self.assertEqual(self.web.rpc("job.submit", {"preset": "fmnist-quick"})[0], 401)
        self.web.cookie = "byol_session=" + "1" * 64
        self.assertEqual(self.web.rpc("job.submit", {"preset": "fmnist-quick"})[0], 401)
        with self.assertRaises(WebSocketRefused):
            self.web.websocket()
        self.assertEqual(self.jobs(), before)

    def test_a_foreign_host_is_refused(self):
        w = self.logged_in()
        for host in ("evil.example", f"evil.example:{self.port}", "127.0.0.1:1",
                     f"127.0.0.2:{self.port}", f"[::2]:{self.port}", f"localhost:{self.port}x"):
            status, _, _ = w.request("GET", "/", headers={"Host": host})
            self.assertEqual(status, 421, host)
            status, _ = w.rpc("server.status", headers={"Host": host})
            self.assertEqual(status, 421, host)
        for host in (f"localhost:{self.port}", f"LOCALHOST:{self.port}", f"127.0.0.1:{self.port}"):
            self.assertEqual(w.request("GET", "/", headers={"Host": host})[0], 200, host)
        with self.assertRaises(WebSocketRefused):
            w.host = f"evil.example:{self.port}"
            w.websocket(origin=f"http://evil.example:{self.port}")

    def test_state_changes_need_the_csrf_token_and_our_origin(self):
        before = self.jobs()
        w = self.logged_in()
        status, body = w.rpc("job.submit", {"preset": "fmnist-quick"}, csrf=False)
        self.assertEqual(status, 403)
        status, body = w.rpc("job.submit", {"preset": "fmnist-quick"},
                             headers={"X-CSRF-Token": "f" * 64})
        self.assertEqual(status, 403)
        status, body = w.rpc("job.submit", {"preset": "fmnist-quick"},
                             headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        self.assertEqual(self.jobs(), before)
        with self.assertRaises(WebSocketRefused):
            w.websocket(csrf="f" * 64)
        with self.assertRaises(WebSocketRefused):
            w.websocket(origin="http://evil.example")
        with self.assertRaises(WebSocketRefused):
            w.websocket(origin="")  # a WebSocket must say where it comes from
        for protocol, path in ((None, "/api/ws"), ("http", "/api/ws"), ("byol-rpc", "/")):
            with self.assertRaises(WebSocketRefused, msg=(protocol, path)):
                w.websocket(protocol=protocol, path=path)  # only ours, only there
        status, body = w.rpc("server.status")
        self.assertEqual(status, 200)
        self.assertIn("version", body["result"])

    def test_no_file_outside_the_bundle(self):
        for path in ("/../token", "/%2e%2e/token", "/%2E%2E%2Ftoken", "/..%2ftoken",
                     "/app.js/../../token", "//etc/passwd", "/index.html%00", "/token",
                     "/byold.db", "/api/../token", "/.%2e/.%2e/etc/passwd"):
            try:
                status, _, body = self.web.request("GET", path)
            except http.client.RemoteDisconnected:
                self.assertIn("%00", path)  # libwebsockets closes on a NUL, before any route
                continue
            self.assertIn(status, (400, 403, 404), path)
            self.assertNotIn(self.token.encode(), body, path)
            self.assertNotIn(b"root:", body, path)

    def test_login_and_logout(self):
        w = Web(self.port)
        status, h, body = w.login(self.token)
        self.assertEqual(status, 200)
        cookie = h["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(attribute, cookie)
        self.assertEqual(json.loads(w.request("GET", "/api/session")[2])["csrf"], w.csrf)
        ws = w.websocket()
        self.assertIn("result", ws.call("server.hello"))
        status, _, _ = w.request("POST", "/api/logout", b"", {"X-CSRF-Token": w.csrf})
        self.assertEqual(status, 200)
        self.assertEqual(w.request("GET", "/api/session")[0], 401)
        ws.send_text(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "server.hello"}))
        self.assertEqual(ws.recv(), ("close", 1008))  # the session ended
        ws.close()

    def test_z_failed_logins_are_logged_and_limited(self):
        w = Web(self.port)
        for _ in range(5):
            self.assertEqual(w.login("0" * 64)[0], 401)
        status, h, _ = w.login(self.token)  # even the right token waits now
        self.assertEqual(status, 429)
        self.assertGreater(int(h["retry-after"]), 0)
        wait_for(lambda: sum("failed login from 127.0.0.1" in l for l in self.daemon.log) >= 5,
                 10, what="a log line for each failed login")  # (stderr is read by a thread)

    def test_a_job_over_the_websocket(self):
        w = self.logged_in()
        ws = w.websocket()
        job = ws.call("job.submit", {"preset": "fmnist-quick", "set": QUICK})["result"]["job_id"]
        sub = ws.call("job.subscribe", {"job_id": job})
        self.assertIn("subscription", sub["result"])
        steps, deadline = [], time.time() + 120 * SLOW
        while time.time() < deadline:
            m = json.loads(ws.recv())
            if m.get("method") == "job.event" and m["params"]["event"] == "step":
                steps.append(m["params"]["step"])
            if m.get("method") == "job.event" and m["params"]["event"] == "end":
                break
        self.assertEqual(steps, list(range(1, 5)))
        bad = ws.call("job.submit", {"preset": "fmnist-quick", "set": {"train.epochs": "abc"}})
        self.assertEqual(bad["error"]["data"], {"field": "train.epochs",
                                                "reason": "expected a number, got \"abc\""})
        ws.send_text("{}\n{}")  # one message is one line
        self.assertEqual(ws.recv(), ("close", 1008))
        ws.close()


class LimitsTest(unittest.TestCase):
    """Each with its own byold: the connection limit is 64."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.state = os.path.join(self.tmp.name, "var")
        self.daemon, self.port = web_daemon(self.state, config={"http_max_connections": 64})

    def tearDown(self):
        self.daemon.close()
        self.tmp.cleanup()

    def responsive(self):
        """(worst server.hello seconds over the socket, worst GET / seconds)."""
        c = self.daemon.unix(timeout=10)
        hello = latency(lambda: c.result("server.hello"))
        c.close()
        page = latency(lambda: Web(self.port).request("GET", "/", timeout=10))
        return hello, page

    def test_oversized_headers(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
        reply = b""
        try:
            while chunk := s.recv(4096):
                reply += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        self.assertFalse(reply.startswith(b"HTTP/1.1 200"), reply[:100])
        many = b"".join(b"X-%d: 1\r\n" % i for i in range(2000))
        self.assertNotEqual(Web(self.port).request("GET", "/", headers=None)[0], 0)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many + b"\r\n")
            self.assertFalse(s.recv(4096).startswith(b"HTTP/1.1 200"))
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
        s.close()
        self.assertTrue(self.daemon.alive())
        print("oversized headers: refused; hello %.1f ms, GET / %.1f ms afterwards"
              % tuple(1000 * x for x in self.responsive()))

    def test_slowloris(self):
        socks = []
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % self.port)
            socks.append(s)
        hello, page = self.responsive()
        stop = threading.Event()

        def trickle():  # a header byte a second: never a whole request
            while not stop.is_set():
                for s in list(socks):
                    try:
                        s.send(b"X")
                    except OSError:
                        socks.remove(s)
                stop.wait(1)
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        wait_for(lambda: not socks, 30 * SLOW, what="byold to close the trickling connections")
        stop.set()
        t.join()
        print(f"slowloris: 40 connections trickling headers closed by the timeout; meanwhile "
              f"hello {1000 * hello:.1f} ms, GET / {1000 * page:.1f} ms")

    def test_500_connections_at_once(self):
        socks = []
        for _ in range(500):
            try:
                socks.append(socket.create_connection(("127.0.0.1", self.port), timeout=10))
            except OSError:
                break
        time.sleep(0.5)
        c = self.daemon.unix(timeout=10)
        hello = latency(lambda: c.result("server.hello"))
        c.close()
        fds = len(os.listdir(f"/proc/{self.daemon.pid}/fd"))
        for s in socks:
            s.close()
        page = latency(lambda: Web(self.port).request("GET", "/", timeout=10))
        print(f"500 connections: {len(socks)} connected (past the limit of 64 they wait in the "
              f"listen queue), byold holds {fds} fds; hello {1000 * hello:.1f} ms meanwhile, "
              f"GET / {1000 * page:.1f} ms after")
        self.assertLess(fds, 64 + 40)


if __name__ == "__main__":
    run_tests()
