#!/usr/bin/python3
"""byolctl end to end: every verb against a real byold (tests/integration/
byold_harness.py) on a temporary state directory, in table and --json output.

Covers the exit codes of byolctl(1): no daemon (69), a
bad spec naming the field (65), an unknown job or checkpoint (66), a wrong
token over TCP (77), usage errors (64), busy or bad state (75), a failed
transfer's sha256 mismatch (74: a checkpoint damaged on the daemon's disk),
and a job's outcome (0 completed, 2 cancelled). `watch` is driven through a
pseudo-terminal (a live panel with a bar and escape sequences) and through a
pipe (plain lines without an escape byte), and across a daemon restart.
`plot`'s SVG is parsed: one polyline per series per job, one point per
metric point. Jobs are tiny (SMALL), so the file runs in about a minute.
"""
import fcntl
import hashlib
import json
import os
import pty
import select
import struct
import subprocess
import tempfile
import termios
import time
import unittest
import xml.etree.ElementTree as ET

from byold_harness import BUILD, SLOW, SMALL, Daemon, run_tests, wait_for

BYOLCTL = os.path.join(BUILD, "byolctl")
SVG = "{http://www.w3.org/2000/svg}"
# About 400 steps: long enough to act on while it runs (a few seconds).
LONGER = {**SMALL, "data.limit": 8192, "train.epochs": 3, "checkpoint.every_steps": 16}


def set_args(overrides):
    args = []
    for k, v in overrides.items():
        args += ["--set", f"{k}={json.dumps(v)}"]
    return args


def run_pty(cmd, env=None, timeout=60, cols=120):
    """Runs cmd with stdout on a pseudo-terminal; (exit code, bytes written)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env={**os.environ, **(env or {})}, close_fds=True)
    os.close(slave)
    out, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=10), out


class CtlTest(unittest.TestCase):
    """One byold for the class, with two finished jobs to read back."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.state = os.path.join(cls.tmp.name, "var")
        cls.daemon = Daemon(cls.state, args=["--workers", "2"])
        cls.sock = cls.daemon.socket_path
        cls.job = cls.submit_and_wait(SMALL)
        cls.job2 = cls.submit_and_wait({**SMALL, "model.width": 0.25, "train.epochs": 1})

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()
        cls.tmp.cleanup()

    @classmethod
    def ctl(cls, *args, env=None, timeout=120, sock=True):
        cmd = [BYOLCTL] + (["--socket", cls.sock] if sock else []) + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})

    @classmethod
    def submit(cls, overrides, *extra):
        r = cls.ctl("--json", "submit", "fmnist-convnet", *set_args(overrides), *extra)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["job_id"]

    @classmethod
    def submit_and_wait(cls, overrides):
        job = cls.submit(overrides)
        r = cls.ctl("wait", str(job))
        assert r.returncode == 0, r.stderr
        return job

    def json_of(self, *args):
        r = self.ctl("--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("\n"), 1, r.stdout)  # one line
        return json.loads(r.stdout)

    def wait_state(self, job, state, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.json_of("show", str(job))["state"] == state:
                return
            time.sleep(0.05)
        self.fail(f"job {job} never reached {state}")

    # ---- usage and errors -------------------------------------------------------

    def test_usage(self):
        for args in ([], ["frob"], ["ls", "--bogus"], ["show"], ["show", "abc"],
                     ["submit"], ["plot", "1"], ["history", "top1"],
                     ["--host", "127.0.0.1:1", "status"]):
            r = self.ctl(*args)
            self.assertEqual(r.returncode, 64, (args, r.stderr))
            self.assertIn("byolctl", r.stderr)
            self.assertEqual(r.stdout, "")
        r = self.ctl("--help")
        self.assertEqual(r.returncode, 0)
        for verb in ("submit", "watch", "ckpt", "history", "compare", "plot"):
            self.assertIn(verb, r.stdout)
        r = self.ctl("submit", "--help")
        self.assertEqual((r.returncode, r.stdout.startswith("usage: ")), (0, True), r.stdout)
        self.assertIn("--dry-run", r.stdout)
        r = self.ctl("--version")
        self.assertRegex(r.stdout, r"^byolctl \d+\.\d+\.\d+\n$")

    def test_no_daemon(self):
        path = os.path.join(self.tmp.name, "nobody.sock")
        r = self.ctl("--socket", path, "status", sock=False)
        self.assertEqual(r.returncode, 69)
        self.assertIn(path, r.stderr)
        self.assertIn("is byold running? start it with: byold --state-dir", r.stderr)
        r = self.ctl("ls", sock=False, env={"BYOLD_SOCKET": path})
        self.assertEqual(r.returncode, 69, r.stderr)
        # The environment is honoured when it names the real socket.
        r = self.ctl("--json", "status", sock=False, env={"BYOLD_SOCKET": self.sock})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_spec(self):
        r = self.ctl("submit", "fmnist-convnet", "--set", "train.batch_size=1000000000")
        self.assertEqual(r.returncode, 65)
        self.assertIn("train.batch_size", r.stderr)
        spec = os.path.join(self.tmp.name, "bad.json")
        with open(spec, "w") as f:
            json.dump({"train": {"nonsense": 1}}, f)
        for extra in ([], ["--dry-run"]):
            r = self.ctl("submit", spec, *extra)
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn("train.nonsense", r.stderr)
        r = self.ctl("submit", "no-such-preset")
        self.assertEqual(r.returncode, 65)
        self.assertIn("byolctl presets", r.stderr)
        r = self.ctl("submit", os.path.join(self.tmp.name, "missing.json"))
        self.assertEqual(r.returncode, 66, r.stderr)

    def test_not_found(self):
        for args in (["show", "4242"], ["metrics", "4242"], ["wait", "4242"],
                     ["ckpt", "ls", "4242"], ["ckpt", "get", "4242"], ["rm", "4242"],
                     ["logs", "4242"], ["compare", str(self.job), "4242"]):
            r = self.ctl(*args)
            self.assertEqual(r.returncode, 66, (args, r.stderr))
            self.assertIn("4242 not found", r.stderr)

    def test_tcp_token(self):
        bad = os.path.join(self.tmp.name, "bad-token")
        with open(bad, "w") as f:
            f.write("0" * 64 + "\n")
        host = f"127.0.0.1:{self.daemon.tcp_port}"
        r = self.ctl("--host", host, "--token-file", bad, "status", sock=False)
        self.assertEqual(r.returncode, 77)
        self.assertIn("--token-file", r.stderr)
        good = os.path.join(self.state, "token")
        r = self.ctl("--host", host, "--token-file", good, "--json", "ls", sock=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.job, [j["job_id"] for j in json.loads(r.stdout)["jobs"]])

    # ---- submit, watch, wait ------------------------------------------------------

    def test_dry_run(self):
        r = self.ctl("submit", "fmnist-quick", "--set", "train.epochs=3", "--set",
                     "model.encoder=resnet18", "--dry-run", sock=False)
        self.assertEqual(r.returncode, 0, r.stderr)  # resolved locally: no daemon needed
        spec = json.loads(r.stdout)
        self.assertEqual((spec["train"]["epochs"], spec["model"]["encoder"]), (3, "resnet18"))
        self.assertEqual(spec["train"]["batch_size"], 256)  # from the preset
        self.assertEqual(spec["name"], "fmnist-quick train.epochs=3 model.encoder=resnet18")
        self.assertNotIn("\t", r.stdout)  # indented with spaces, two a level
        self.assertIn('\n  "train": {\n    "epochs": 3,', r.stdout)
        one = self.json_of("submit", "fmnist-quick", "--dry-run")
        self.assertEqual(one["name"], "fmnist-quick")
        own = self.json_of("submit", "fmnist-quick", "--set", "name=mine", "--set",
                           "train.epochs=2", "--dry-run")
        self.assertEqual(own["name"], "mine")  # a name given is kept

    def test_follow_through_a_pipe(self):
        r = self.ctl("submit", "fmnist-convnet", *set_args(SMALL), "--follow")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("\x1b", r.stdout)
        steps = [l for l in r.stdout.splitlines() if l.startswith("step ")]
        self.assertEqual([int(l.split()[1].split("/")[0]) for l in steps], list(range(1, 9)))
        self.assertRegex(r.stdout, r"job \d+ submitted")
        self.assertRegex(r.stdout.splitlines()[-1],
                         r"^job \d+ completed: linear top-1 [\d.]+%, top-5 [\d.]+%; kNN top-1")

    def test_watch_json_and_wait(self):
        r = self.ctl("--json", "watch", str(self.job))
        self.assertEqual(r.returncode, 0, r.stderr)
        events = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([e["step"] for e in events if e["event"] == "step"], list(range(1, 9)))
        self.assertEqual(events[-1]["event"], "end")
        self.assertEqual(events[-1]["state"], "completed")
        self.assertTrue(all(e["job_id"] == self.job for e in events))
        r = self.ctl("wait", str(self.job))
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        end = self.json_of("wait", str(self.job))
        self.assertEqual((end["event"], end["state"]), ("end", "completed"))

    def test_watch_on_a_terminal(self):
        job = self.submit({**SMALL, "data.limit": 1024, "train.epochs": 3})
        rc, out = run_pty([BYOLCTL, "--socket", self.sock, "watch", str(job)])
        self.assertEqual(rc, 0, out)
        self.assertIn(b"\x1b[", out)        # the panel is redrawn in place
        self.assertIn("█".encode(), out)    # the progress bar
        self.assertIn(b"100.0%", out)
        self.assertIn(b"smoothed", out)
        self.assertRegex(out, rb"job \d+ completed")
        # NO_COLOR: no colour and no bar.
        rc, out = run_pty([BYOLCTL, "--socket", self.sock, "watch", str(job)],
                          env={"NO_COLOR": "1"})
        self.assertEqual(rc, 0, out)
        self.assertNotIn(b"\x1b[3", out)
        self.assertNotIn("█".encode(), out)

    def test_watch_across_a_daemon_restart(self):
        """SIGTERM ends the job as interrupted; watch reconnects to the restarted byold,
        resubscribes after the last step seen, and ends with the job: every step once."""
        state = os.path.join(self.tmp.name, "restart")
        daemon = Daemon(state, tcp=False)
        sock = daemon.socket_path
        watch = None
        try:
            r = subprocess.run([BYOLCTL, "--socket", sock, "--json", "submit", "fmnist-convnet",
                                *set_args(LONGER)], capture_output=True, text=True, timeout=30)
            job = json.loads(r.stdout)["job_id"]
            out_path = os.path.join(self.tmp.name, "watch.out")
            with open(out_path, "w") as out:
                watch = subprocess.Popen([BYOLCTL, "--socket", sock, "watch", str(job)],
                                         stdout=out, stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 60
            while time.time() < deadline:
                with open(out_path) as f:
                    if sum(l.startswith("step ") for l in f) >= 30:
                        break
                time.sleep(0.05)
            self.assertEqual(daemon.stop(), 0)
            daemon.close()
            time.sleep(1.5)
            daemon = Daemon(state, tcp=False)
            self.assertEqual(watch.wait(timeout=90 * SLOW), 0)
            err = watch.stderr.read()
            self.assertIn("reconnecting", err)
            self.assertIn("reconnected", err)
            with open(out_path) as f:
                text = f.read()
            steps = [int(l.split()[1].split("/")[0]) for l in text.splitlines()
                     if l.startswith("step ")]
            self.assertEqual(steps, list(range(1, len(steps) + 1)))
            self.assertEqual(steps[-1], 384)
            ckpts = [l.split()[1] for l in text.splitlines() if l.startswith("checkpoint ")]
            self.assertEqual(len(ckpts), len(set(ckpts)), ckpts)  # each announced once
            self.assertIn("interrupted", text)
            self.assertRegex(text.splitlines()[-1], r"job \d+ completed")
        finally:
            if watch and watch.poll() is None:
                watch.kill()
                watch.wait()
            daemon.close()

    def test_a_checkpoint_is_announced_once_across_a_restart(self):
        """No step point before the end (log_every past the run): the resubscription
        after a restart replays from step 0, and watch still shows each checkpoint once."""
        state = os.path.join(self.tmp.name, "restart-ckpt")
        daemon = Daemon(state, tcp=False)
        sock, watch = daemon.socket_path, None
        try:
            r = subprocess.run([BYOLCTL, "--socket", sock, "--json", "submit", "fmnist-convnet",
                                *set_args({**LONGER, "train.log_every": 100000,
                                           "checkpoint.keep_last": 1000})],
                               capture_output=True, text=True, timeout=30)
            job = json.loads(r.stdout)["job_id"]
            out_path = os.path.join(self.tmp.name, "watch-ckpt.out")
            with open(out_path, "w") as out:
                watch = subprocess.Popen([BYOLCTL, "--socket", sock, "watch", str(job)],
                                         stdout=out, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: open(out_path).read().count("checkpoint ") >= 2, 60,
                     what="two checkpoints announced")
            self.assertEqual(daemon.stop(), 0)
            daemon.close()
            daemon = Daemon(state, tcp=False)
            self.assertEqual(watch.wait(timeout=90 * SLOW), 0)
            with open(out_path) as f:
                lines = f.read().splitlines()
            ckpts = [l.split()[1] for l in lines if l.startswith("checkpoint ")]
            self.assertGreater(len(ckpts), 2)
            self.assertEqual(len(ckpts), len(set(ckpts)), ckpts)
            # the only step point is the last step: watch ends at it, not before
            self.assertEqual([l.split()[1] for l in lines if l.startswith("step ")], ["384/384"])
        finally:
            if watch and watch.poll() is None:
                watch.kill()
                watch.wait()
            daemon.close()

    # ---- control ------------------------------------------------------------------

    def test_pause_resume_cancel_rm(self):
        job = self.submit(LONGER)
        self.wait_state(job, "running")
        r = self.ctl("rm", str(job))
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("cancel it first", r.stderr)
        self.assertEqual(self.json_of("pause", str(job)), {"job_id": job, "state": "paused"})
        r = self.ctl("resume", str(job))  # queued again if the pause took effect already
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(r.stdout, (f"job {job} running\n", f"job {job} queued\n"))
        r = self.ctl("cancel", str(job))
        self.assertEqual((r.returncode, r.stdout), (0, f"job {job} cancelled\n"))
        r = self.ctl("wait", str(job))
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.ctl("cancel", str(self.job))  # completed: a bad state
        self.assertEqual(r.returncode, 75, r.stderr)
        # byold records `cancelled` when asked, before the worker has stopped, and refuses
        # to delete the job until it has: retry for a moment.
        deadline = time.time() + 10
        while (r := self.ctl("--json", "rm", str(job))).returncode == 75 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, {"ok": True}), r.stderr)
        self.assertEqual(self.ctl("show", str(job)).returncode, 66)

    # ---- reading ------------------------------------------------------------------

    def test_tables(self):
        j = str(self.job)
        for args in (["ls"], ["ls", "--all"], ["ls", "--state", "completed"], ["show", j],
                     ["metrics", j], ["ckpt", "ls", j], ["presets"], ["status"], ["history"],
                     ["history", "model.encoder=convnet", "top1>=0", "--order-by", "-top1"],
                     ["compare", j, str(self.job2)]):
            r = self.ctl(*args, env={"COLUMNS": "100"})
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertNotIn("\x1b", r.stdout)
            self.assertTrue(r.stdout.strip(), args)
            self.assertTrue(all(len(l) <= 100 for l in r.stdout.splitlines()), (args, r.stdout))
        # a job with overrides is named after them (up to 60 bytes and "…")
        self.assertRegex(self.ctl("ls").stdout,
                         rf"(?m)^\s*{j}\s+fmnist-convnet data\.limit=256 eval_data\.limit=64 \S+\s+completed")
        named = self.json_of("show", j)["name"]
        self.assertTrue(named.startswith("fmnist-convnet data.limit=256 ") and named.endswith("…"))
        self.assertLessEqual(len(named.encode()), 63)
        self.assertIn("fmnist-quick", self.ctl("presets").stdout)
        cmp = self.ctl("compare", j, str(self.job2)).stdout
        self.assertRegex(cmp, r"(?m)^model\.width\s+0\.125\s+0\.25")
        self.assertRegex(cmp, r"(?m)^train\.epochs\s+2\s+1")
        self.assertNotIn("train.batch_size", cmp)  # the same in both

    def test_json(self):
        j = self.job
        ids = [x["job_id"] for x in self.json_of("ls", "--all")["jobs"]]
        self.assertIn(j, ids)
        job = self.json_of("show", str(j))
        self.assertEqual((job["job_id"], job["state"], job["step"]), (j, "completed", 8))
        points = self.json_of("metrics", str(j))["points"]
        self.assertEqual([p["step"] for p in points], list(range(1, 9)))
        ckpts = self.json_of("ckpt", "ls", str(j))["checkpoints"]
        self.assertEqual([k["step"] for k in ckpts], [4, 8])
        names = [p["name"] for p in self.json_of("presets")["presets"]]
        self.assertIn("fmnist-quick", names)
        self.assertIn("jobs", self.json_of("status"))
        runs = self.json_of("history", "model.width=0.125", "train.epochs>=2", "top1>=0",
                            "--order-by", "-top1")["runs"]
        self.assertIn(j, [x["job_id"] for x in runs])
        self.assertNotIn(self.job2, [x["job_id"] for x in runs])
        self.assertIn("lines", self.json_of("logs", str(j)))
        cmp = self.json_of("compare", str(j), str(self.job2))
        self.assertEqual(cmp["differences"]["model.width"], [0.125, 0.25])
        self.assertEqual(cmp["results"]["state"], ["completed", "completed"])
        for key in ("final_loss", "top1", "top5", "knn_top1"):
            self.assertEqual(cmp["results"][key],
                             [self.json_of("show", str(k))[key] for k in (j, self.job2)])
        # --json is accepted after the verb too.
        r = self.ctl("show", str(j), "--json")
        self.assertEqual(json.loads(r.stdout)["job_id"], j)
        csv = self.ctl("metrics", str(j), "--csv").stdout.splitlines()
        self.assertEqual(csv[0], "step,epoch,loss,tau,lr,img_s,z_std,time")
        self.assertEqual([int(l.split(",")[0]) for l in csv[1:]], list(range(1, 9)))

    def test_logs_follow_ends_with_the_job(self):
        r = self.ctl("logs", str(self.job), "-f", timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("\x1b", r.stdout)
        self.assertIn("training 8 steps: 2 epochs of 4 steps of batch 64 on 256 images of", r.stdout)

    def test_one_meaning_per_word(self):
        j = str(self.job)
        self.assertIn(" LOSS ", self.ctl("ls").stdout.splitlines()[0])  # the newest point's
        self.assertIn("FINAL LOSS", self.ctl("history").stdout.splitlines()[0])  # last epoch's
        rows = self.ctl("metrics", j).stdout.splitlines()
        self.assertRegex(rows[1], r"^\s*1\s+1\s")  # step 1 is in epoch 1, as watch says
        self.assertRegex(rows[-1], r"^\s*8\s+2\s")
        show = self.ctl("show", j).stdout
        self.assertIn("train split, the first 256 images", show)
        self.assertIn("eval      idx /usr/share/datasets/fashion-mnist, test split, the first 64 "
                      "images", show)
        self.assertNotIn("limit 0", show)

    def test_eval(self):
        r = self.ctl("eval", str(self.job), "--kind", "knn")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"knn eval at step 8: top-1 [\d.]+%")
        self.assertIn("a kNN evaluation requested on checkpoint",
                      self.ctl("logs", str(self.job)).stdout)
        ev = self.json_of("eval", str(self.job2), "--kind", "linear")
        self.assertEqual((ev["event"], ev["kind"]), ("eval", "linear"))
        self.assertGreaterEqual(ev["top1"], 0)

    def test_plot(self):
        path = os.path.join(self.tmp.name, "plot.svg")
        jobs = [self.job, self.job2]
        r = self.ctl("plot", *map(str, jobs), "-o", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        root = ET.parse(path).getroot()
        self.assertEqual(root.tag, SVG + "svg")
        lines = root.iter(SVG + "polyline")
        found = {(p.get("data-series"), int(p.get("data-job"))): len(p.get("points").split())
                 for p in lines}
        for job in jobs:
            n = len(self.json_of("metrics", str(job))["points"])
            for series in ("loss", "tau", "lr"):
                self.assertEqual(found.pop((series, job)), n, (series, job))
        self.assertEqual(found, {})  # nothing else
        self.assertGreaterEqual(len([l for l in root.iter(SVG + "line")
                                     if l.get("class") == "xtick"]), 6)
        self.assertEqual(len([g for g in root.iter(SVG + "g") if g.get("class") == "panel"]), 3)

    def test_ckpt_get(self):
        ckpts = self.json_of("ckpt", "ls", str(self.job))["checkpoints"]
        out = os.path.join(self.tmp.name, "get")
        os.makedirs(out)
        path = os.path.join(out, "latest.safetensors")
        got = self.json_of("ckpt", "get", str(self.job), "--latest", "-o", path)
        self.assertEqual((got["checkpoint_id"], got["path"]), (ckpts[-1]["checkpoint_id"], path))
        with open(path, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), ckpts[-1]["sha256"])
        # A directory receives the default name; the encoder alone, names unprefixed.
        r = self.ctl("ckpt", "get", str(ckpts[0]["checkpoint_id"]), "-o", out, "--encoder-only")
        self.assertEqual(r.returncode, 0, r.stderr)
        enc = os.path.join(out, f"checkpoint-{ckpts[0]['checkpoint_id']}-encoder.safetensors")
        with open(enc, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        names = [k for k in header if k != "__metadata__"]
        self.assertIn("features.0.weight", names)
        self.assertFalse([k for k in names if k.startswith(("online.", "target.", "optim."))])
        self.assertIn("spec", header["__metadata__"])
        # A checkpoint damaged on the daemon's disk: the transfer's sha256 differs from
        # the one indexed at write time, so nothing is kept and the exit code is 74.
        ck = ckpts[0]
        disk = os.path.join(self.state, "checkpoints", str(self.job),
                            f"step-{ck['step']:08d}.safetensors")
        with open(disk, "r+b") as f:
            f.seek(ck["bytes"] // 2)
            byte = f.read(1)
            f.seek(ck["bytes"] // 2)
            f.write(bytes([byte[0] ^ 0xFF]))
        try:
            bad = os.path.join(out, "bad.safetensors")
            r = self.ctl("ckpt", "get", str(ck["checkpoint_id"]), "-o", bad)
            self.assertEqual(r.returncode, 74, r.stderr)
            self.assertIn("sha256", r.stderr)
            self.assertFalse([f for f in os.listdir(out) if f.startswith("bad")])
        finally:
            with open(disk, "r+b") as f:
                f.seek(ck["bytes"] // 2)
                f.write(byte)


if __name__ == "__main__":
    run_tests()
