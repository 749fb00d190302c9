#!/usr/bin/python3
"""byold end to end: a real daemon on a temporary state directory, driven over
its Unix socket and over TCP by line-framed JSON-RPC, as byolctl will drive it.

Submits a real (small) Fashion-MNIST job and follows it to completion; reads
its metrics, checkpoints (every chunk, checked against the indexed sha256) and
history; checks the error replies (bad spec naming the field, unknown job,
unknown method) and TCP authentication (nothing but server.hello and auth
before the token; wrong token refused; right token accepted); stops the
daemon with SIGTERM and restarts it on the same state directory, where the
job is still recorded. Exits non-zero on the first failed check.
"""
import base64
import hashlib
import os
import re
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byold_harness import SMALL, Daemon, run_tests, wait_done, wait_for  # noqa: E402


class ByoldTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.state = os.path.join(self.tmp.name, "var")
        self.daemon = Daemon(self.state)

    def tearDown(self):
        self.daemon.close()
        self.tmp.cleanup()

    def test_job_over_unix_socket(self):
        c = self.daemon.unix()
        self.assertEqual(c.result("server.hello")["protocol"], "byol/1")
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": SMALL})["job_id"]
        job = wait_done(c, job_id)
        self.assertEqual(job["state"], "completed", job)
        self.assertEqual(job["step"], 8)
        self.assertEqual({e["kind"] for e in job["evals"]}, {"knn", "linear"})
        points = c.result("job.metrics", {"job_id": job_id})["points"]
        self.assertEqual([p["step"] for p in points], list(range(1, 9)))
        ckpts = c.result("checkpoint.list", {"job_id": job_id})["checkpoints"]
        self.assertEqual([k["step"] for k in ckpts], [4, 8])
        ck = ckpts[-1]
        data, offset = b"", 0
        while offset < ck["bytes"]:
            r = c.result("checkpoint.read", {"checkpoint_id": ck["checkpoint_id"],
                                             "offset": offset, "length": 100000})
            chunk = base64.b64decode(r["data"])
            data += chunk
            offset += len(chunk)
        self.assertEqual(hashlib.sha256(data).hexdigest(), ck["sha256"])
        # An indexed file swapped for a symlink is not followed (RELIABILITY 10).
        secret = os.path.join(self.tmp.name, "secret")
        with open(secret, "w") as f:
            f.write("not for clients\n" * 100)
        first = os.path.join(self.state, "checkpoints", str(job_id), "step-00000004.safetensors")
        os.unlink(first)
        os.symlink(secret, first)
        r = c.call("checkpoint.read", {"checkpoint_id": ckpts[0]["checkpoint_id"],
                                       "offset": 0, "length": 100})
        self.assertEqual(r["error"]["code"], -32004)
        self.assertNotIn("result", r)
        runs = c.result("history.query", {"spec": {"model.encoder": "convnet"},
                                          "order_by": "-top1"})["runs"]
        self.assertEqual([r["job_id"] for r in runs], [job_id])
        self.assertEqual(self.daemon.stop(), 0)
        # The history survives a restart.
        self.daemon = Daemon(self.state)
        again = self.daemon.unix().result("job.get", {"job_id": job_id})
        self.assertEqual(again["state"], "completed")

    def test_errors(self):
        c = self.daemon.unix()
        r = c.call("job.submit", {"preset": "fmnist-convnet",
                                  "set": {"train.batch_size": 10**9}})
        self.assertEqual(r["error"]["code"], -32602)
        self.assertEqual(r["error"]["data"]["field"], "train.batch_size")
        for bad, field in (({"model.width": 1000}, "model.width"),
                           ({"train.nonsense": 1}, "train.nonsense"),
                           ({"train.epochs": "many"}, "train.epochs")):
            r = c.call("job.submit", {"preset": "fmnist-convnet", "set": bad})
            self.assertEqual((r["error"]["code"], r["error"]["data"]["field"]), (-32602, field))
        # Files are reachable only by checkpoint id from the index, never by path.
        for params in ({"path": "../../etc/passwd", "offset": 0, "length": 10},
                       {"checkpoint_id": "/etc/passwd", "offset": 0, "length": 10}):
            self.assertEqual(c.call("checkpoint.read", params)["error"]["code"], -32602)
        self.assertEqual(c.call("job.get", {"job_id": 4242})["error"]["code"], -32004)
        self.assertEqual(c.call("no.such.method")["error"]["code"], -32601)
        self.assertEqual(c.call("checkpoint.read", {"checkpoint_id": 7, "offset": 0,
                                                    "length": 10})["error"]["code"], -32004)

    def interrupted_run(self, how):
        """Kill (SIGKILL) or stop (SIGTERM) byold mid-training, restart it, and check the
        job ends completed with one metric point per step."""
        longer = {**SMALL, "data.limit": 1024, "train.epochs": 3, "checkpoint.every_steps": 8}
        c = self.daemon.unix()
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": longer})["job_id"]
        for _ in range(600):
            points = c.result("job.metrics", {"job_id": job_id})["points"]
            if points and points[-1]["step"] >= 20:
                break
            time.sleep(0.05)
        if how == "kill":
            self.daemon.kill()
        else:
            self.assertEqual(self.daemon.stop(), 0)
        self.daemon.close()
        self.daemon = Daemon(self.state)
        c = self.daemon.unix()
        job = wait_done(c, job_id)
        self.assertEqual(job["state"], "completed", job)
        steps = [p["step"] for p in c.result("job.metrics", {"job_id": job_id})["points"]]
        self.assertEqual(steps, list(range(1, 49)))
        # The same job never interrupted ends with the same final checkpoint, byte for byte.
        again = c.result("job.submit", {"preset": "fmnist-convnet", "set": longer})["job_id"]
        self.assertEqual(wait_done(c, again)["state"], "completed")
        final = [c.result("checkpoint.list", {"job_id": j})["checkpoints"][-1]
                 for j in (job_id, again)]
        self.assertEqual(final[0]["step"], 48)
        self.assertEqual(final[0]["sha256"], final[1]["sha256"])
        logs = c.result("job.logs", {"job_id": job_id})["lines"]
        self.assertTrue(any("resum" in l["message"] for l in logs), logs)

    def test_kill9_mid_training(self):
        self.interrupted_run("kill")

    def test_sigterm_mid_training(self):
        self.interrupted_run("term")

    def test_sigterm_during_evaluations(self):
        """SIGTERM while the final linear probe runs, then while a requested eval runs:
        each time byold stops at once; the next start evaluates the job's final
        checkpoint (written once) and completes it, and runs the requested eval again."""
        slow = {**SMALL, "data.limit": 1024, "eval.linear.epochs": 5000}  # probe: seconds
        c = self.daemon.unix()
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": slow})["job_id"]

        def evals(kind, state):
            got = c.result("job.get", {"job_id": job_id})["evals"]
            return [e for e in got if e["kind"] == kind and e["state"] == state]
        wait_for(lambda: evals("knn", "done"), 60, what="the final kNN, before the probe")
        t0 = time.time()
        self.assertEqual(self.daemon.stop(), 0)
        stop_s = time.time() - t0
        self.daemon.close()
        self.daemon = Daemon(self.state)
        c = self.daemon.unix()
        job = wait_done(c, job_id)
        self.assertEqual(job["state"], "completed", job)
        self.assertIsNotNone(job["top1"])
        self.assertGreater(job["final_loss"] or 0, 0)
        steps = [k["step"] for k in c.result("checkpoint.list", {"job_id": job_id})["checkpoints"]]
        self.assertEqual(steps, [24, 28, 32])  # keep_last 3; the final one written once
        logs = [l["message"] for l in c.result("job.logs", {"job_id": job_id})["lines"]]
        self.assertTrue(any("resuming from" in m and "step-00000032" in m for m in logs), logs)
        # A requested probe: the job cannot be deleted under it; stopped, it runs again.
        eval_id = c.result("job.eval", {"job_id": job_id, "kind": "linear"})["eval_id"]
        time.sleep(0.3)
        self.assertEqual(c.call("job.delete", {"job_id": job_id})["error"]["code"], -32009)
        t0 = time.time()
        self.assertEqual(self.daemon.stop(), 0)
        stop_s = max(stop_s, time.time() - t0)
        self.daemon.close()
        self.daemon = Daemon(self.state)
        c = self.daemon.unix()
        done = wait_for(lambda: [e for e in evals("linear", "done") if e["eval_id"] == eval_id],
                        120, what=f"eval {eval_id} after the restart")
        self.assertEqual(done[0]["top1"], job["top1"])  # the same weights, the same probe
        logs = [l["message"] for l in c.result("job.logs", {"job_id": job_id})["lines"]]
        self.assertIn(f"eval {eval_id} interrupted; queued again", logs)
        self.assertLess(stop_s, 10)
        print(f"\n  SIGTERM during evaluations: byold stopped within {stop_s:.2f} s")

    def test_systemd_notify(self):
        """READY=1 once listening, STOPPING=1 on SIGTERM, as one datagram each."""
        self.daemon.stop()
        path = os.path.join(self.tmp.name, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(30)
        self.daemon = Daemon(self.state, {"NOTIFY_SOCKET": path})
        self.assertIn("READY=1", sock.recv(4096).decode())
        self.assertEqual(self.daemon.stop(), 0)
        self.assertIn("STOPPING=1", sock.recv(4096).decode())
        sock.close()

    def test_tcp_auth(self):
        with open(os.path.join(self.state, "token")) as f:
            token = f.read().strip()
        self.assertRegex(token, r"^[0-9a-f]{64}$")
        self.assertEqual(os.stat(os.path.join(self.state, "token")).st_mode & 0o777, 0o600)
        t = self.daemon.tcp()
        self.assertEqual(t.result("server.hello")["protocol"], "byol/1")
        self.assertEqual(t.call("server.status")["error"]["code"], -32001)
        # Nothing runs before auth: a submit is refused and leaves no job behind.
        r = t.call("job.submit", {"preset": "fmnist-convnet", "set": SMALL})
        self.assertEqual(r["error"]["code"], -32001)
        self.assertEqual(t.call("auth", {"token": "0" * 64})["error"]["code"], -32001)
        self.assertTrue(t.result("auth", {"token": token})["ok"])
        self.assertIn("jobs", t.result("server.status"))
        self.assertEqual(t.result("job.list")["jobs"], [])
        # Repeated failures disconnect.
        u = self.daemon.tcp()
        for _ in range(3):
            u.call("auth", {"token": "1" * 64})
        try:  # the daemon has closed: EOF, or a reset if our write crossed the close
            u.file.write('{"jsonrpc":"2.0","id":99,"method":"server.hello"}\n')
            u.file.flush()
            self.assertEqual(u.file.readline(), "")
        except (ConnectionResetError, BrokenPipeError):
            pass
        # Each failure is logged with the peer, and so is the disconnection.
        wait_for(lambda: any("disconnected after 3 failed auth calls" in l
                             for l in self.daemon.log), 10, what="the lock-out in the log")
        failed = [l for l in self.daemon.log if re.search(r"tcp client 127\.0\.0\.1:\d+: auth failed", l)]
        self.assertEqual(len(failed), 3, self.daemon.log)  # the third is the disconnection


if __name__ == "__main__":
    run_tests()
