#!/usr/bin/python3
"""TLS on byold's TCP listeners (--tls on, --tls-cert/--tls-key): a certificate
made at the first start, its fingerprint logged and stored; TLS 1.3 for JSON-RPC
and the dashboard (openssl s_client says so); plaintext JSON sent to the TLS
port gets a plaintext error and the close; byolctl pins the fingerprint on
first use, refuses a changed certificate, verifies against --tls-ca, and takes
its target from BYOLD_HOST, BYOLD_TOKEN_FILE and BYOLD_TLS; the dashboard's
cookie is Secure; a given certificate is used, and a key that does not match
it stops byold at start with a message that says so.
"""
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from byold_harness import Daemon, run_tests  # noqa: E402
from web_client import token_of, web_daemon  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
BYOLCTL = os.path.abspath(os.path.join(BUILD, "byolctl"))
BYOLD = os.path.abspath(os.path.join(BUILD, "byold"))


def tls_socket(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # (the pinning is byolctl's, tested below)
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                           server_hostname="localhost")


def der_fingerprint(sock):
    d = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest().upper()
    return ":".join(d[i:i + 2] for i in range(0, 64, 2))


class TLSTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.state = os.path.join(self.tmp.name, "var")
        self.known = os.path.join(self.tmp.name, "config", "byolctl", "known_hosts")
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.close()
        self.tmp.cleanup()

    def start(self, *args):
        self.daemon, self.http = web_daemon(self.state, args=["--tls", "on", *args], tcp=True)
        self.port = self.daemon.tcp_port

    def ctl(self, *args, env=None, tls=True):
        host = ["--host", f"127.0.0.1:{self.port}", "--token-file", f"{self.state}/token"]
        cmd = [BYOLCTL, *host, *(["--tls"] if tls else []), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "BYOLCTL_KNOWN_HOSTS": self.known, **(env or {})})

    def test_a_made_certificate_tls13_and_plaintext_refused(self):
        self.start()
        with open(os.path.join(self.state, "tls", "fingerprint")) as f:
            stored = f.read().strip()
        self.assertIn(f"SHA-256 fingerprint {stored}", self.daemon.stderr_text())
        self.assertEqual(os.stat(os.path.join(self.state, "tls", "key.pem")).st_mode & 0o077, 0)
        s = tls_socket(self.port)
        self.assertEqual(s.version(), "TLSv1.3")
        self.assertEqual(der_fingerprint(s), stored)
        f = s.makefile("rwb")
        for i, (method, params) in enumerate((("auth", {"token": token_of(self.state)}),
                                              ("server.status", {}))):
            f.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                                "params": params}).encode() + b"\n")
            f.flush()
            self.assertIn("result", json.loads(f.readline()))
        s.close()
        for port in (self.port, self.http):
            out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}"],
                                 input="", capture_output=True, text=True, timeout=30).stdout
            self.assertIn("New, TLSv1.3", out, port)
        plain = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        plain.sendall(b'{"jsonrpc":"2.0","id":1,"method":"server.hello"}\n')
        reply = plain.makefile("rb").readline()
        self.assertIn(b"this port speaks TLS", reply)
        self.assertEqual(plain.recv(10), b"")  # and closed
        plain.close()
        plain = socket.create_connection(("127.0.0.1", self.http), timeout=10)
        plain.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            self.assertFalse(plain.recv(100).startswith(b"HTTP/1.1 200"))
        except ConnectionResetError:
            pass  # refused
        plain.close()
        self.assertTrue(self.daemon.alive())
        self.assertTrue(self.daemon.unix().result("server.hello"))

    def test_byolctl_pins_and_refuses_a_changed_certificate(self):
        self.start()
        first = self.ctl("ls")
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertIn("pinned the certificate", first.stderr)
        with open(self.known) as f:
            self.assertIn(f"127.0.0.1:{self.port} ", f.read())
        again = self.ctl("ls")
        self.assertEqual((again.returncode, "pinned" in again.stderr), (0, False), again.stderr)
        env = {"BYOLD_HOST": f"127.0.0.1:{self.port}", "BYOLD_TOKEN_FILE": f"{self.state}/token",
               "BYOLD_TLS": "1", "BYOLCTL_KNOWN_HOSTS": self.known}
        by_env = subprocess.run([BYOLCTL, "ls"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, **env})
        self.assertEqual(by_env.returncode, 0, by_env.stderr)
        plain = self.ctl("ls", tls=False)
        self.assertNotEqual(plain.returncode, 0)
        self.assertIn("this port speaks TLS", plain.stderr)
        # a new certificate at the same address: refused, until verified otherwise
        port = self.port
        self.daemon.stop()
        for name in ("cert.pem", "key.pem"):
            os.remove(os.path.join(self.state, "tls", name))
        self.daemon = Daemon(self.state, tcp=False, args=["--tls", "on", "--listen",
                                                          f"127.0.0.1:{port}"])
        changed = self.ctl("ls")
        self.assertEqual(changed.returncode, 77, changed.stderr)
        self.assertIn("has changed", changed.stderr)
        ca = self.ctl("--tls-ca", os.path.join(self.state, "tls", "cert.pem"), "ls")
        self.assertEqual(ca.returncode, 0, ca.stderr)
        other = os.path.join(self.tmp.name, "other.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=other", "-days", "1",
                        "-keyout", other + ".key", "-out", other], capture_output=True, check=True)
        wrong = self.ctl("--tls-ca", other, "ls")
        self.assertEqual(wrong.returncode, 77, wrong.stderr)
        self.assertIn("fails verification", wrong.stderr)

    def test_a_given_certificate_and_a_wrong_key(self):
        cert, key = (os.path.join(self.tmp.name, n) for n in ("c.pem", "k.pem"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert], capture_output=True, check=True)
        self.start("--tls-cert", cert, "--tls-key", key)
        s = tls_socket(self.port)
        out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint",
                              "-sha256"], capture_output=True, text=True).stdout
        self.assertEqual(der_fingerprint(s), out.strip().split("=")[1])
        s.close()
        self.assertFalse(os.path.exists(os.path.join(self.state, "tls", "cert.pem")))
        ok = self.ctl("--tls-ca", cert, "ls")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.daemon.close()
        self.daemon = None
        other = os.path.join(self.tmp.name, "other.key")
        subprocess.run(["openssl", "genrsa", "-out", other, "2048"], capture_output=True, check=True)
        for args, says in ((["--tls-cert", cert, "--tls-key", other], "must be the private key of"),
                           (["--tls-cert", cert], "needs tls-key"),
                           (["--tls", "maybe"], "expected on or off")):
            r = subprocess.run([BYOLD, "--state-dir", self.state, "--listen", "127.0.0.1:0",
                                *args], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(says, r.stderr, args)

    def test_the_dashboard_cookie_is_secure(self):
        self.start()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        import http.client
        c = http.client.HTTPSConnection("127.0.0.1", self.http, context=ctx, timeout=10)
        c.request("POST", "/api/login", json.dumps({"token": token_of(self.state)}),
                  {"Content-Type": "application/json", "Origin": f"https://127.0.0.1:{self.http}"})
        r = c.getresponse()
        self.assertEqual(r.status, 200, r.read())
        self.assertIn("Secure", r.getheader("Set-Cookie"))
        r.read()
        c.request("POST", "/api/login", json.dumps({"token": "x"}),
                  {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{self.http}"})
        self.assertEqual(c.getresponse().status, 403)  # an http:// page is another origin
        c.close()


if __name__ == "__main__":
    run_tests()
