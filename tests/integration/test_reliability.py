#!/usr/bin/python3
"""Reliability tests 2, 3, 4, 7, 8, 9 and 12 against a real byold.

Every test starts its own byold on a temporary state directory (Unix socket
in it, TCP on 127.0.0.1 port 0), bounds every read with a timeout and a
per-test alarm, and stops the daemon whatever happens.

  2  malformed JSON, wrong "jsonrpc", ids of the wrong type, the empty batch,
     notification-only batches, unknown methods, wrong param types, raw
     malformed bytes (bad UTF-8, NUL, 100000 '[', random bytes): the exact
     JSON-RPC codes, and the same connection still answers server.hello.
  3  a line over the cap (1 MiB; 4 KiB on TCP before auth) and endless lines
     without a newline: -32600 then close, at the cap; VmRSS does not grow.
  4  300 connections trickling one byte a second: new clients are served
     meanwhile; with --config {"idle_timeout_s": N} they are reaped (a
     trickler never completes a request, so it counts as silent), while a
     subscriber receiving a job's events is not.
  7  kill -9 while a checkpoint's temp file is being written: the previous
     checkpoint is intact; temp files are removed at start-up (and nothing
     else); the job resumes from the previous checkpoint.
  8  disk full (an 8 MiB tmpfs state dir) during a checkpoint write and during
     metric writes: the job fails naming the lack of space, no temp file is
     left, PRAGMA integrity_check is ok, the daemon keeps answering.
  9  the newest checkpoint of an interrupted job with a flipped byte,
     truncated, or with a bad header length: detected (job.logs), the job
     resumes from the previous good one and completes with contiguous steps.
 12  bad job specs (unknown keys, wrong types, huge sizes, missing data):
     -32602 naming the field; VmRSS within 1 MiB over 1000 rejected specs.
     Corrupt images under data.on_error skip|fail are the loader's:
     tests/unit/test_imagefolder.c test_imagefolder_bad (skip logs and counts
     each bad file, fail names the first), test_dataset.c test_idx_bad and
     test_cifar_bad.

Run: BUILD=build-rel /usr/bin/python3 tests/integration/test_reliability.py
Measured figures are printed at the end.
"""
import hashlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byold_harness import (SANITIZED, SMALL, DaemonTest, RawConn,  # noqa: E402
                           wait_done, wait_for)

MIB = 1 << 20
MAX_LINE = MIB            # byold(8): at most 1 MiB per line (default)
PREAUTH_MAX_LINE = 4096   # rpc.h RPC_PREAUTH_MAX_LINE: TCP before auth
FIGURES = []              # (test, text) printed at the end


def figure(test, text):
    FIGURES.append((test, text))
    print(f"    [{test}] {text}", file=sys.stderr, flush=True)


def hello(msg_id=1):
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "server.hello"}).encode()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def temp_files(directory):
    """Checkpoint temp files (st_writer_write: "<path>.tmp.<pid>") in a directory."""
    try:
        return sorted(n for n in os.listdir(directory)
                      if re.fullmatch(r".+\.safetensors\.tmp\.\d+", n))
    except FileNotFoundError:
        return []


def read_db(db_path, sql, args=()):
    """Every row of one query on byold.db, opened read-only beside (or without) byold."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def indexed_checkpoints(db_path, job_id):
    """[(step, path, sha256)] of a job from byold.db, read directly (daemon stopped)."""
    return read_db(db_path, "SELECT step, path, sha256 FROM checkpoints WHERE job_id = ?"
                   " ORDER BY step", (job_id,))


def store_state(db_path, job_id):
    """A job's state as byold.db records it, read directly."""
    return read_db(db_path, "SELECT state FROM jobs WHERE job_id = ?", (job_id,))[0][0]


def integrity(db_path):
    return read_db(db_path, "PRAGMA integrity_check")


def steps_of(client, job_id):
    return [p["step"] for p in client.result("job.metrics", {"job_id": job_id})["points"]]


class ReliabilityTest(DaemonTest):
    PREFIX = "byold-rel-"

    def setUp(self):
        super().setUp()
        self.mounts = []

    def tearDown(self):
        for d in self.daemons:  # before the mounts under them go
            d.close()
        for mnt in self.mounts:
            subprocess.run(["umount", mnt], capture_output=True)
        super().tearDown()

    def assert_serves(self, d, conn=None):
        """The daemon is alive and answers server.hello (on conn if given)."""
        self.assertTrue(d.alive(), d.stderr_text())
        if conn is None:
            c = d.unix(timeout=10)
            self.assertEqual(c.result("server.hello")["protocol"], "byol/1")
            c.close()
        else:
            r = conn.call("server.hello", id=4242)
            self.assertEqual((r["id"], r["result"]["protocol"]), (4242, "byol/1"), r)

    # ---- 2: malformed requests ------------------------------------------------

    def test_02_malformed_requests(self):
        d = self.start()
        conn = RawConn(d.raw_unix())
        H = '"method":"server.hello"'
        cases = [  # (line, code, id echoed)
            (b'{bad', -32700, None),
            (b'{"jsonrpc":"2.0","id":1,' + H.encode(), -32700, None),  # truncated
            (b'{"jsonrpc":"2.0","id":1,' + H.encode() + b'} trailing', -32700, None),
            (b'{"jsonrpc":"1.0","id":1,' + H.encode() + b'}', -32600, 1),
            (b'{"jsonrpc":2.0,"id":2,' + H.encode() + b'}', -32600, 2),
            (b'{"id":3,' + H.encode() + b'}', -32600, 3),  # jsonrpc missing
            (b'{"jsonrpc":"2.0","id":{},' + H.encode() + b'}', -32600, None),
            (b'{"jsonrpc":"2.0","id":{"a":1},' + H.encode() + b'}', -32600, None),
            (b'{"jsonrpc":"2.0","id":[1],' + H.encode() + b'}', -32600, None),
            (b'{"jsonrpc":"2.0","id":true,' + H.encode() + b'}', -32600, None),
            (b'{"jsonrpc":"2.0","id":false,' + H.encode() + b'}', -32600, None),
            (b'{"jsonrpc":"2.0","id":4,"method":5}', -32600, 4),
            (b'{"jsonrpc":"2.0","id":5,' + H.encode() + b',"params":"x"}', -32600, 5),
            (b'"a string"', -32600, None),
            (b'42', -32600, None),
            (b'[]', -32600, None),
            (b'{"jsonrpc":"2.0","id":7,"method":"no.such.method"}', -32601, 7),
            (b'{"jsonrpc":"2.0","id":"s","method":"job.get","params":{"job_id":"x"}}',
             -32602, "s"),
            (b'{"jsonrpc":"2.0","id":8,"method":"job.get","params":{}}', -32602, 8),
            (b'{"jsonrpc":"2.0","id":9,"method":"job.get","params":{"job_id":1.5}}',
             -32602, 9),
            (b'{"jsonrpc":"2.0","id":10,"method":"job.get","params":{"job_id":-1}}',
             -32602, 10),
            (b'{"jsonrpc":"2.0","id":11,"method":"job.list","params":{"limit":"ten"}}',
             -32602, 11),
            (b'{"jsonrpc":"2.0","id":12,"method":"job.get","params":{"job_id":1,"x":2}}',
             -32602, 12),
            (b'{"jsonrpc":"2.0","id":13,"method":"job.submit","params":{"paused":"yes"}}',
             -32602, 13),
            (b'{"jsonrpc":"2.0","id":14,"method":"server.hello","params":[1]}', -32602, 14),
            (b'{"jsonrpc":"2.0","id":15,"method":"checkpoint.read",'
             b'"params":{"checkpoint_id":1,"offset":0,"length":99999999}}', -32602, 15),
            # raw malformed bytes
            (b'\xff\xfe\xfd', -32700, None),
            (b'{"jsonrpc":"2.0","id":16,"method":"server.hel\xc3\x28lo"}', -32700, None),
            (b'{"jsonrpc":"2.0","id":17,"method":"\xed\xa0\x80"}', -32700, None),  # surrogate
            (b'\x00\x00\x00', -32700, None),
            (b'{"jsonrpc":"2.0","id":18,"method":"server.hello\x00"}', -32700, None),
            (b'{"jsonrpc":"2.0","id":19,"method":"server.hello\\u0000"}', -32700, None),
            (b'{"jsonrpc":"2.0",\x01"id":20,' + H.encode() + b'}', -32700, None),
            (b'[' * 100000, -32700, None),
            (b'[' * 100000 + b']' * 100000, -32700, None),
            (b'{"a":' * 100000, -32700, None),
        ]
        for line, code, msg_id in cases:
            conn.send(line + b"\n")
            r = conn.line()
            self.assertIsNotNone(r, f"connection closed after {line[:60]!r}")
            self.assertEqual((r.get("jsonrpc"), r["error"]["code"], r["id"]),
                             ("2.0", code, msg_id), (line[:60], r))
            self.assertTrue(r["error"]["message"], r)
            # The same connection is still usable.
            self.assert_serves(d, conn)

        # A notification-only batch gets no reply at all (nor do notifications that
        # fail): the next line received is the reply to the next request.
        for silent in (b'[{"jsonrpc":"2.0",' + H.encode() + b'},'
                       b'{"jsonrpc":"2.0","method":"server.status"}]',
                       b'{"jsonrpc":"2.0","method":"server.hello"}',
                       b'{"jsonrpc":"2.0","method":"no.such.method"}',
                       b'{"jsonrpc":"2.0","method":"job.get","params":{"job_id":"x"}}',
                       b'[{"jsonrpc":"2.0","method":"no.such.method"}]',
                       b'', b'\r'):
            conn.send(silent + b"\n")
            self.assertTrue(conn.silent(0.2), f"a reply to {silent!r}: {conn.buf!r}")
            self.assert_serves(d, conn)

        # A mixed batch: one reply per request with an id, in order, invalid ones too.
        conn.send(b'[{"jsonrpc":"2.0",' + H.encode() + b'},'
                  b'{"jsonrpc":"2.0","id":"a",' + H.encode() + b'},'
                  b'1,'
                  b'{"jsonrpc":"2.0","id":"b","method":"no.such"}]\n')
        r = conn.line()
        self.assertIsInstance(r, list, r)
        self.assertEqual([(x["id"], x.get("error", {}).get("code")) for x in r],
                         [("a", None), (None, -32600), ("b", -32601)], r)
        self.assert_serves(d, conn)

        # Random bytes, seeded: every reply is a JSON-RPC error; the daemon stays up.
        rng = random.Random(20240501)
        junk = b"".join(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
                        .replace(b"\n", b" ") + b"\n" for _ in range(300))
        conn.send(junk)
        conn.send(hello(99) + b"\n")
        n_errors = 0
        while True:
            r = conn.line()
            self.assertIsNotNone(r, "connection closed by random bytes")
            if isinstance(r, dict) and r.get("id") == 99 and "result" in r:
                break
            self.assertIn(r["error"]["code"], (-32700, -32600), r)
            n_errors += 1
        self.assert_serves(d)
        figure("2", f"{len(cases)} malformed lines answered with the exact codes; "
               f"300 random-byte lines → {n_errors} errors; daemon up")
        conn.close()

    # ---- 3: oversize and endless lines ---------------------------------------

    def endless(self, sock, total):
        """Stream total bytes without a newline; the bytes the daemon accepted before
        it closed (or total)."""
        conn = RawConn(sock, timeout=20)
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < total:
                sent += conn.sock.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed = conn.closed()
        conn.close()
        return sent, closed, conn.buf

    def test_03_oversize_and_endless_lines(self):
        d = self.start()
        pad = hello(1)[:-1]
        # A line of exactly the cap is served; one byte more is -32600, then close.
        conn = RawConn(d.raw_unix())
        conn.send(pad + b" " * (MAX_LINE - len(pad) - 1) + b"}\n")
        self.assertEqual(conn.line()["result"]["protocol"], "byol/1")
        conn.send(b"x" * (MAX_LINE + 1))
        r = conn.line()
        self.assertEqual((r["error"]["code"], r["id"]), (-32600, None), r)
        self.assertTrue(conn.closed(), "not closed after an oversize line")
        conn.close()

        rss0 = d.rss_kib()
        # A complete line over the cap (2 MiB and a newline).
        for _ in range(5):
            conn = RawConn(d.raw_unix())
            conn.send_lossy(b"{" + b" " * (2 * MAX_LINE) + b"}\n")
            r = conn.line()
            self.assertEqual((r["error"]["code"], r["id"]), (-32600, None), r)
            self.assertTrue(conn.closed())
            conn.close()
        # TCP before auth: 4 KiB.
        conn = RawConn(d.raw_tcp())
        self.assertEqual(conn.call("server.hello")["result"]["protocol"], "byol/1")
        conn.send(b"x" * (PREAUTH_MAX_LINE + 1))
        r = conn.line()
        self.assertEqual((r["error"]["code"], r["id"]), (-32600, None), r)
        self.assertTrue(conn.closed())
        conn.close()
        # TCP after auth: the full cap.
        with open(os.path.join(self.state, "token")) as f:
            token = f.read().strip()
        conn = RawConn(d.raw_tcp())
        self.assertTrue(conn.call("auth", {"token": token})["result"]["ok"])
        conn.send(pad + b" " * (MAX_LINE - len(pad) - 1) + b"}\n")
        self.assertEqual(conn.line()["result"]["protocol"], "byol/1")
        conn.send(b"x" * (MAX_LINE + 1))
        self.assertEqual(conn.line()["error"]["code"], -32600)
        self.assertTrue(conn.closed())
        conn.close()

        # Endless lines (50 MiB without a newline): closed at the cap. The bytes the
        # client got rid of include what socket buffers hold (a few MiB at most).
        t0 = time.time()
        accepted = []
        for make, cap, name in ((d.raw_unix, MAX_LINE, "unix"),
                                (d.raw_tcp, PREAUTH_MAX_LINE, "tcp")):
            for _ in range(3):
                sent, closed, buf = self.endless(make(timeout=20), 50 * MIB)
                self.assertTrue(closed, f"{name}: still open after {sent} bytes")
                self.assertLess(sent, cap + 16 * MIB, f"{name}: {sent} bytes taken")
                if name == "unix":  # on TCP the reset may overtake the reply
                    self.assertEqual(json.loads(buf.split(b"\n")[0])["error"]["code"], -32600)
                accepted.append((name, sent))
        # Five endless lines at once.
        threads = [threading.Thread(target=self.endless, args=(d.raw_unix(timeout=20), 50 * MIB))
                   for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        took = time.time() - t0
        time.sleep(0.5)
        rss1 = d.rss_kib()
        self.assert_serves(d)
        most = {name: max(s for n, s in accepted if n == name) / MIB for name in ("unix", "tcp")}
        figure("3", f"endless lines closed after {most['unix']:.2f}"
               f" MiB (unix, cap 1 MiB) / {most['tcp']:.2f} MiB"
               f" (tcp pre-auth, cap 4 KiB) sent by the client; 11 endless lines in"
               f" {took:.2f} s; VmRSS {rss0} → {rss1} KiB ({rss1 - rss0:+d})")
        if not SANITIZED:
            self.assertLess(rss1 - rss0, 4 * 1024, "VmRSS grew by more than 4 MiB")

    # ---- 4: trickling clients --------------------------------------------------

    N_TRICKLE = 300

    def trickle(self, d, seconds, per_second=1.0):
        """Open N_TRICKLE connections (half Unix, half TCP) that send one byte a second
        of a request they never finish, plus 20 silent ones; meanwhile a new client
        every 0.5 s must get server.hello and server.status answered within 1 s.
        Returns (connections closed by the daemon, when each closed (s), the new
        clients' worst latency (s))."""
        text = b'{"jsonrpc":"2.0","id":1,"method":"server.hello","params":{"pad":"' + b"a" * 10000
        socks = []
        for i in range(self.N_TRICKLE):
            s = d.raw_unix() if i % 2 == 0 else d.raw_tcp()
            s.setblocking(False)
            socks.append(s)
        silent = [d.raw_unix() for _ in range(20)]
        for s in silent:
            s.setblocking(False)
        t0 = time.time()
        closed_at = {}
        worst = 0.0
        pos = 0
        next_tick = t0
        while time.time() - t0 < seconds:
            now = time.time()
            if now >= next_tick:
                for i, s in enumerate(socks):
                    if i in closed_at:
                        continue
                    try:
                        s.send(text[pos:pos + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        closed_at[i] = now - t0
                    except BlockingIOError:
                        pass
                pos += 1
                next_tick += 1.0 / per_second
            for i, s in enumerate(socks + silent):
                if i in closed_at:
                    continue
                try:
                    if s.recv(4096, socket.MSG_DONTWAIT) == b"":
                        closed_at[i] = time.time() - t0
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    closed_at[i] = time.time() - t0
            t = time.time()
            c = d.unix(timeout=5)
            c.result("server.hello")
            c.result("server.status")
            c.close()
            worst = max(worst, time.time() - t)
            if len(closed_at) == len(socks) + len(silent):
                break
            time.sleep(0.5)
        for s in socks + silent:
            s.close()
        return closed_at, worst

    def test_04a_trickling_clients_do_not_starve_others(self):
        d = self.start()
        rss0 = d.rss_kib()
        closed, worst = self.trickle(d, 6)
        rss1 = d.rss_kib()
        self.assert_serves(d)
        figure("4a", f"{self.N_TRICKLE} trickling + 20 silent connections for 6 s: new clients'"
               f" worst hello+status latency {worst * 1000:.0f} ms; {len(closed)} closed early"
               f" (default idle timeout 600 s); VmRSS {rss0} → {rss1} KiB")
        self.assertLess(worst, 1.0)
        self.assertFalse(closed, "connections closed before any timeout could apply")

    def test_04b_trickling_clients_reaped(self):
        timeout = 2
        d = self.start(config={"idle_timeout_s": timeout})
        t0 = time.time()
        closed, worst = self.trickle(d, 4 * timeout + 6)
        n = self.N_TRICKLE + 20
        last = max(closed.values()) if closed else None
        figure("4b", f"idle_timeout_s {timeout}: {len(closed)}/{n} connections reaped, the last"
               f" after {last if last is None else round(last, 1)} s; new clients' worst"
               f" latency {worst * 1000:.0f} ms; took {time.time() - t0:.1f} s")
        self.assert_serves(d)
        self.assertLess(worst, 1.0)
        trickling = sum(1 for i in closed if i < self.N_TRICKLE)
        self.assertEqual(len(closed), n, f"{trickling}/{self.N_TRICKLE} trickling and"
                         f" {len(closed) - trickling}/20 silent clients reaped: a client that"
                         " completes no request within the idle timeout must be reaped")
        self.assertLess(last, 2 * timeout + 2)

    def test_04c_idle_timeout_spares_subscribers(self):
        """A client that only watches a job (job.subscribe, then reads) sends nothing
        while events flow to it: the idle timeout must not cut it off."""
        d = self.start(config={"idle_timeout_s": 1})
        c = d.unix()
        longer = {**SMALL, "data.limit": 4096, "train.epochs": 3,  # 192 steps, a few seconds
                  "eval.linear.epochs": 0}
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": longer})["job_id"]
        c.close()
        w = d.unix(timeout=60)
        w.result("job.subscribe", {"job_id": job_id})
        t0 = time.time()
        events, last = 0, None
        while True:
            m = w.read()
            if m is None:
                break
            events += 1
            last = m["params"]
            if last.get("event") == "end":
                break
        took = time.time() - t0
        figure("4c", f"idle_timeout_s 1: a subscriber got {events} events over {took:.1f} s,"
                     f" the last {last and (last.get('event'), last.get('step'))}")
        self.assertTrue(last and last.get("event") == "end",
                        f"the subscriber was closed after {took:.1f} s and {events} events"
                        f" (last: {last}) by the idle timeout")

    # ---- 7: kill -9 during a checkpoint write ----------------------------------

    def test_07_kill9_during_checkpoint_write(self):
        # A projector and predictor of 8192 make a 62 MB checkpoint: its write (temp,
        # fsync, rename) takes a good fraction of a second, long enough to be caught.
        big = {**SMALL, "train.epochs": 4, "eval.linear.epochs": 0,  # 16 steps
               "model.projector": {"hidden": 8192, "out": 256},
               "model.predictor": {"hidden": 8192, "out": 256}}
        d = self.start()
        c = d.unix()
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": big})["job_id"]
        job_dir = os.path.join(self.state, "checkpoints", str(job_id))
        first = wait_for(lambda: c.result("checkpoint.list", {"job_id": job_id})["checkpoints"],
                         60, what="the first checkpoint")[0]
        self.assertEqual(first["step"], 4)
        # Kill while a later checkpoint is being written (step 8's, else 12's).
        caught = None
        deadline = time.time() + 60
        while time.time() < deadline and not caught:
            caught = [t for t in temp_files(job_dir) if not t.startswith("step-00000004")]
            if not caught:
                time.sleep(0.001)
        self.assertTrue(caught, "no checkpoint write was seen after step 4's")
        d.kill()
        left = temp_files(job_dir)
        self.assertEqual(left, caught, "the temp file is gone: the kill came after the rename")
        size = os.path.getsize(os.path.join(job_dir, left[0]))
        killed_step = int(left[0][5:13])
        final = os.path.join(job_dir, f"step-{killed_step:08d}.safetensors")
        self.assertFalse(os.path.exists(final))
        # The previous checkpoint is intact: its file still has the indexed digest.
        prev_step, prev, prev_sha = indexed_checkpoints(os.path.join(self.state, "byold.db"),
                                                        job_id)[-1]
        self.assertEqual(prev_step, killed_step - 4)
        self.assertEqual(sha256_file(prev), prev_sha)
        # Temp files a killed byold left elsewhere too, and files that must stay.
        other = os.path.join(self.state, "checkpoints", "4242")
        os.makedirs(other)
        planted = [os.path.join(other, "step-00000012.safetensors.tmp.999999"),
                   os.path.join(job_dir, "step-00000099.safetensors.tmp.1")]
        keep = [os.path.join(other, "notes.txt"),
                os.path.join(other, "step-00000012.safetensors"),
                os.path.join(other, "step-00000013.safetensors.tmp.12x"),
                os.path.join(self.state, "checkpoints", "x.safetensors.tmp.5")]
        for p in planted + keep:
            with open(p, "wb") as f:
                f.write(b"planted")
        link = os.path.join(other, "step-00000014.safetensors.tmp.7")
        os.symlink(prev, link)

        d = self.start()
        self.assertEqual(temp_files(job_dir), [])
        self.assertEqual(sorted(os.listdir(other)), sorted(
            [os.path.basename(p) for p in keep if os.path.dirname(p) == other] +
            [os.path.basename(link)]))
        for p in keep:
            self.assertTrue(os.path.exists(p), p)
        self.assertTrue(os.path.exists(prev), "the symlink's target was removed")
        m = re.search(r"removed (\d+) temporary checkpoint file", d.stderr_text())
        self.assertTrue(m and int(m.group(1)) == 3, d.stderr_text())
        c = d.unix()
        job = wait_done(c, job_id)
        self.assertEqual(job["state"], "completed", job)
        logs = [l["message"] for l in c.result("job.logs", {"job_id": job_id})["lines"]]
        self.assertTrue(any(re.search(rf"resuming from .*step-{prev_step:08d}", m)
                            for m in logs), logs)
        self.assertEqual(steps_of(c, job_id), list(range(1, 17)))
        ckpts = c.result("checkpoint.list", {"job_id": job_id})["checkpoints"]
        # keep_last 3: step 4's file (and its index row) went when 16's was written.
        self.assertEqual([k["step"] for k in ckpts], [8, 12, 16])
        for k in ckpts:
            self.assertEqual(sha256_file(os.path.join(job_dir, f"step-{k['step']:08d}"
                                                      ".safetensors")), k["sha256"])
        # The same job never interrupted ends with the same final checkpoint, byte for byte.
        again = c.result("job.submit", {"preset": "fmnist-convnet", "set": big})["job_id"]
        self.assertEqual(wait_done(c, again)["state"], "completed")
        final = c.result("checkpoint.list", {"job_id": again})["checkpoints"][-1]
        self.assertEqual((final["step"], final["sha256"]), (16, ckpts[-1]["sha256"]))
        self.assertEqual(d.stop(), 0)
        figure("7", f"killed with {size / MIB:.1f} of {first['bytes'] / MIB:.1f} MiB of step"
               f" {killed_step}'s temp file written; step {prev_step} intact; start-up removed"
               f" 3 temp files (1 real, 2 planted), kept {len(keep)} look-alikes and a symlink;"
               f" resumed from step {prev_step} and completed")

    # ---- 8: disk full ------------------------------------------------------------

    def small_fs(self, size="8m"):
        """A tmpfs of size mounted for this test (unmounted at its end)."""
        mnt = os.path.join(self.tmp.name, "mnt")
        os.makedirs(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                            mnt], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here ({r.stderr.strip()}): run as root "
                          "outside a restricted container")
        self.mounts.append(mnt)
        return mnt

    def assert_db_ok(self, d, db_path):
        # While the daemon runs (a reader beside it), then after it stopped.
        self.assertEqual(integrity(db_path), [("ok",)])
        self.assertEqual(d.stop(), 0)
        self.assertEqual(integrity(db_path), [("ok",)])

    def test_08a_disk_full_during_checkpoint(self):
        mnt = self.small_fs()
        state = os.path.join(mnt, "var")
        d = self.start(state)
        c = d.unix()
        # Projector and predictor of 2048: a 15 MB checkpoint on an 8 MiB disk.
        big = {**SMALL, "eval.linear.epochs": 0,
               "model.projector": {"hidden": 2048, "out": 256},
               "model.predictor": {"hidden": 2048, "out": 256}}
        t0 = time.time()
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": big})["job_id"]
        job = wait_done(c, job_id, timeout=60)
        self.assertEqual(job["state"], "failed", job)
        self.assertRegex(job["error"], r"(?i)no space left|disk is full", job)
        self.assertIn("step-00000004", job["error"])
        self.assertEqual(os.listdir(os.path.join(state, "checkpoints", str(job_id))), [],
                         "a partial checkpoint was left")
        # Steps 1-3 are stored; step 4's row may have met the full disk too.
        self.assertIn(steps_of(c, job_id), ([1, 2, 3], [1, 2, 3, 4]))
        self.assertEqual(c.result("checkpoint.list", {"job_id": job_id})["checkpoints"], [])
        status = c.result("server.status")
        self.assertEqual(status["jobs"]["failed"], 1, status)
        # The space the failed write took is back: a job that fits completes.
        small = c.result("job.submit", {"preset": "fmnist-convnet", "set": SMALL})["job_id"]
        self.assertEqual(wait_done(c, small, timeout=60)["state"], "completed")
        self.assert_db_ok(d, os.path.join(state, "byold.db"))
        figure("8a", f"checkpoint of 15 MB on an 8 MiB tmpfs: job failed in"
                     f" {time.time() - t0:.1f} s with \"{job['error'][-60:]}\"; no temp left;"
                     f" next job completed; integrity_check ok")

    def test_08b_disk_full_during_metric_writes(self):
        mnt = self.small_fs()
        state = os.path.join(mnt, "var")
        d = self.start(state)
        c = d.unix()
        longer = {**SMALL, "data.limit": 2048, "train.epochs": 2}  # 64 steps
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": longer})["job_id"]
        wait_for(lambda: len(steps_of(c, job_id)) >= 2, 60, what="two metric points")
        # Fill the disk: metric rows, then the next checkpoint (every 4 steps) fail.
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (MIB, 4096):
                try:
                    while os.write(fd, b"\0" * size):
                        pass
                except OSError:
                    pass
        finally:
            os.close(fd)
        job = wait_done(c, job_id, timeout=30)
        stored = steps_of(c, job_id)
        self.assertEqual(job["state"], "failed", job)
        self.assertRegex(job["error"] or "", r"(?i)no space left|disk is full", job)
        self.assertEqual(temp_files(os.path.join(state, "checkpoints", str(job_id))), [])
        self.assertIn("failed", c.result("server.status")["jobs"])
        # With space again, the daemon carries on.
        os.unlink(filler)
        small = c.result("job.submit", {"preset": "fmnist-convnet", "set": SMALL})["job_id"]
        self.assertEqual(wait_done(c, small, timeout=60)["state"], "completed")
        self.assert_db_ok(d, os.path.join(state, "byold.db"))
        figure("8b", f"disk filled after step {stored[1] if len(stored) > 1 else '?'}: "
                     f"{len(stored)} metric points stored; job failed at step {job['step']}"
                     f" with \"{(job['error'] or '')[-60:]}\"; integrity_check ok")

    # ---- 9: damaged checkpoints ------------------------------------------------

    @staticmethod
    def flip_byte(path):
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0x01]))

    @staticmethod
    def truncate(path):
        os.truncate(path, os.path.getsize(path) // 2)

    @staticmethod
    def bad_header_length(path):
        with open(path, "r+b") as f:
            f.write((1 << 40).to_bytes(8, "little"))

    def test_09_damaged_newest_checkpoint(self):
        damages = [self.flip_byte, self.truncate, self.bad_header_length]
        # 256 steps, a checkpoint per 4: long enough that no job can finish while the
        # slowest of the three (they share two cores) reaches its third checkpoint.
        # Every file is kept: with keep_last, the engine may already have removed
        # files the index (which trails it by the events in flight) still lists.
        steps = 256
        longer = {**SMALL, "data.limit": 1024, "train.epochs": steps // 16,
                  "checkpoint.keep_last": 1000}
        d = self.start(args=["--workers", "3", "--threads", "3"])
        c = d.unix()
        jobs = [c.result("job.submit", {"preset": "fmnist-convnet", "set": longer})["job_id"]
                for _ in damages]

        def enough():
            n = [len(c.result("checkpoint.list", {"job_id": j})["checkpoints"]) for j in jobs]
            return min(n) >= 3
        wait_for(enough, 90, poll=0.05, what="three checkpoints of every job")
        os.kill(d.proc.pid, signal.SIGSTOP)  # freeze training while the states are read
        states = [store_state(os.path.join(self.state, "byold.db"), j) for j in jobs]
        d.kill()
        self.assertEqual(states, ["running"] * 3, "every job must be running when killed")
        db = os.path.join(self.state, "byold.db")
        expected = {}
        for j, damage in zip(jobs, damages):
            ckpts = indexed_checkpoints(db, j)
            (_, newest, _), (prev_step, prev, prev_sha) = ckpts[-1], ckpts[-2]
            self.assertEqual(sha256_file(prev), prev_sha)
            damage(newest)
            expected[j] = (damage.__name__, newest, prev_step)
        d = self.start(args=["--workers", "3", "--threads", "3"])
        c = d.unix()
        results = []
        for j in jobs:
            name, newest, prev_step = expected[j]
            job = wait_done(c, j, timeout=90)
            self.assertEqual(job["state"], "completed", (name, job))
            logs = [l["message"] for l in c.result("job.logs", {"job_id": j})["lines"]]
            self.assertTrue(any(newest in m and "sha256" in m for m in logs),
                            (name, "damage not logged", logs))
            self.assertTrue(any(re.search(rf"resuming from .*step-{prev_step:08d}", m)
                                for m in logs), (name, logs))
            self.assertEqual(steps_of(c, j), list(range(1, steps + 1)), name)
            results.append(f"{name}: resumed from step {prev_step}")
        self.assertEqual(d.stop(), 0)
        figure("9", "; ".join(results) + f"; all completed with steps 1..{steps}")

    # ---- 12: bad job specs -----------------------------------------------------

    def test_12_bad_specs(self):
        d = self.start()
        c = d.unix()
        empty = os.path.join(self.tmp.name, "empty")
        os.makedirs(empty)
        P = "fmnist-convnet"
        cases = [  # (params, field)
            ({"preset": P, "set": {"train.nonsense": 1}}, "train.nonsense"),
            ({"preset": P, "spec": {"bogus": 1}}, "bogus"),
            ({"preset": P, "spec": {"model": {"projector": {"hiden": 3}}}},
             "model.projector.hiden"),
            ({"preset": P, "set": {"train.epochs": "many"}}, "train.epochs"),
            ({"preset": P, "spec": {"model": {"width": "wide"}}}, "model.width"),
            ({"preset": P, "spec": {"data": {"mean": "grey"}}}, "data.mean"),
            ({"preset": P, "spec": {"optim": []}}, "optim"),
            ({"preset": P, "set": {"train.batch_size": 10**9}}, "train.batch_size"),
            ({"preset": P, "set": {"model.width": 1000}}, "model.width"),
            ({"preset": P, "set": {"data.image_size": 100000}}, "data.image_size"),
            ({"preset": P, "set": {"model.projector.hidden": 10**7}}, "model.projector.hidden"),
            ({"preset": P, "set": {"train.epochs": 1e300}}, "train.epochs"),
            ({"preset": P, "set": {"data.path": "/nonexistent/fashion-mnist"}}, "data.path"),
            ({"preset": P, "set": {"data.path": "relative/dir"}}, "data.path"),
            ({"preset": P, "set": {"data.path": empty}}, "data.path"),
            ({"preset": P, "set": {"data.limit": 256, "eval_data.path": "/nonexistent"}},
             "eval_data.path"),
            ({"preset": P, "set": {"data.format": "bmp"}}, "data.format"),
            ({"preset": P, "set": {"data.limit": 10, "train.batch_size": 64}},
             "train.batch_size"),
            ({"preset": "no-such-preset"}, "preset"),
            ({"preset": P, "spec": [1]}, "spec"),
        ]
        for params, field in cases:
            r = c.call("job.submit", params)
            self.assertIn("error", r, params)
            self.assertEqual(r["error"]["code"], -32602, (params, r))
            self.assertEqual(r["error"].get("data", {}).get("field"), field, (params, r))
            self.assertTrue(r["error"]["data"].get("reason"), r)
        self.assertEqual(c.result("job.list")["jobs"], [])

        def reject(n):
            for i in range(n):
                params, field = cases[i % len(cases)]
                r = c.call("job.submit", params)
                assert r["error"]["data"]["field"] == field, r
        reject(100)  # warm-up
        rss0 = d.rss_kib()
        t0 = time.time()
        reject(1000)
        took = time.time() - t0
        rss1 = d.rss_kib()
        self.assertEqual(c.result("job.list")["jobs"], [], "a rejected spec became a job")
        self.assert_serves(d)
        figure("12", f"{len(cases)} kinds of bad spec → -32602 naming the field; 1000 rejected in"
                     f" {took:.1f} s; VmRSS {rss0} → {rss1} KiB ({rss1 - rss0:+d})")
        if not SANITIZED:
            self.assertLessEqual(rss1 - rss0, 1024, "VmRSS grew by more than 1 MiB")


if __name__ == "__main__":
    t0 = time.time()
    result = unittest.main(exit=False, verbosity=2, warnings="ignore").result
    ok = result.wasSuccessful()
    print("\nmeasured:")
    for test, text in FIGURES:
        print(f"  {test:>3}: {text}")
    skipped = len(result.skipped)
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed - skipped} passed, {failed} failed, {skipped} skipped"
          f" in {time.time() - t0:.0f} s")
    sys.exit(0 if ok else 1)
