"""A client of byold's dashboard listener for the tests: byold started with
--http 127.0.0.1:0, plain HTTP requests, a login, and a minimal WebSocket
(RFC 6455: the handshake, masked text frames out, unmasked frames in)."""
import base64
import http.client
import json
import os
import re
import socket
import struct
import time

from byold_harness import SLOW, Daemon, wait_for


def web_daemon(state, args=(), tcp=False, **kw):
    """byold with the dashboard on a free loopback port; (daemon, port)."""
    d = Daemon(state, tcp=tcp, args=["--http", "127.0.0.1:0", *args], **kw)
    port = []

    def found():
        for line in d.log:
            m = re.search(r"dashboard on http:\S+ \(port (\d+)\)", line)
            if m:
                port.append(int(m.group(1)))
                return True
        return False
    wait_for(found, 30, what="the dashboard's port")
    return d, port[0]


def token_of(state):
    with open(os.path.join(state, "token")) as f:
        return f.read().strip()


class Web:
    """Requests to one dashboard: Host and Origin default to what a browser on
    http://127.0.0.1:PORT sends; the session cookie is kept after a login."""

    def __init__(self, port):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, headers dict with lower-case names, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Host": self.host}
        if self.cookie:
            h["Cookie"] = self.cookie
        h.update(headers or {})
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            if v is not None:
                c.putheader(k, v)
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            c.putheader("Content-Length", str(len(data)))
        c.endheaders(data)
        r = c.getresponse()
        out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        c.close()
        return out

    def login(self, token):
        status, headers, body = self.request("POST", "/api/login", json.dumps({"token": token}),
                                             {"Content-Type": "application/json"})
        if status == 200:
            self.cookie = headers["set-cookie"].split(";")[0]
            self.csrf = json.loads(body)["csrf"]
        return status, headers, body

    def rpc(self, method, params=None, csrf=True, headers=None):
        """POST /api/rpc: (status, parsed body)."""
        h = {"Content-Type": "application/json"}
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        msg = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
        status, _, body = self.request("POST", "/api/rpc", json.dumps(msg), h)
        return status, json.loads(body) if body else None

    def websocket(self, csrf=None, origin=None, timeout=10 * SLOW, protocol="byol-rpc",
                  path="/api/ws"):
        return WebSocket(self, self.csrf if csrf is None else csrf,
                         f"http://{self.host}" if origin is None else origin, timeout,
                         protocol, path)


class WebSocketRefused(Exception):
    pass


class WebSocket:
    def __init__(self, web, csrf, origin, timeout, protocol, path):
        self.sock = socket.create_connection(("127.0.0.1", web.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path}?csrf={csrf} HTTP/1.1", f"Host: {web.host}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        if origin:
            lines.append(f"Origin: {origin}")
        if web.cookie:
            lines.append(f"Cookie: {web.cookie}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                self.sock.close()
                raise WebSocketRefused("closed during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            self.sock.close()
            raise WebSocketRefused(head.split(b"\r\n")[0].decode())
        self.next_id = 1

    def send_text(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _take(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the WebSocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next message: text as str; a close frame as ("close", code)."""
        b0, b1 = self._take(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._take(8))[0]
        payload = self._take(n)
        if b0 & 0x0F == 8:
            return ("close", struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None)
        return payload.decode()

    def call(self, method, params=None, timeout=30):
        """A request; its response (notifications before it are skipped)."""
        rid = self.next_id
        self.next_id += 1
        self.send_text(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                   "params": params or {}}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.recv()
            if isinstance(m, tuple):
                raise ConnectionError(f"closed with {m[1]}")
            m = json.loads(m)
            if m.get("id") == rid:
                return m
        raise TimeoutError(method)

    def close(self):
        self.sock.close()
