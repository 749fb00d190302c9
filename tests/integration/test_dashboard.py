#!/usr/bin/python3
"""The dashboard in a real browser: Debian's Chromium driven by Playwright
(npm playwright-core, client/web's lock file) against a real byold on loopback
(tests/web/dashboard.mjs): log in by keyboard, filter the jobs, watch a running
job's loss curve gain points live, fit a phone's width, download a checkpoint
that matches its SHA-256, compare two jobs, see a bad value at its field,
cancel a job. Screenshots of each page go to $BUILD/web-shots/.
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from byold_harness import SLOW, run_tests, wait_done  # noqa: E402
from web_client import token_of, web_daemon  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
QUICK = {"data.limit": 512, "eval_data.limit": 256, "train.epochs": 1, "optim.warmup_epochs": 0,
         "train.batch_size": 128, "eval.linear.epochs": 1, "train.log_every": 1}


class DashboardTest(unittest.TestCase):
    def test_the_pages_in_a_browser(self):
        with tempfile.TemporaryDirectory() as tmp:
            state = os.path.join(tmp, "var")
            daemon, port = web_daemon(state)
            try:
                c = daemon.unix()
                done = [c.result("job.submit", {"preset": "fmnist-quick",
                                                "set": {**QUICK, "train.tau_base": tau}})["job_id"]
                        for tau in (0.99, 0.996)]
                for job in done:
                    self.assertEqual(wait_done(c, job, timeout=300 * SLOW)["state"], "completed")
                running = c.result("job.submit", {"preset": "fmnist-quick", "set": {
                    **QUICK, "data.limit": 4096, "train.epochs": 50}})["job_id"]
                shots = os.path.join(BUILD, "web-shots")
                os.makedirs(shots, exist_ok=True)
                env = {**os.environ, "BYOL_URL": f"http://127.0.0.1:{port}/",
                       "BYOL_TOKEN": token_of(state), "BYOL_DONE": ",".join(map(str, done)),
                       "BYOL_RUNNING": str(running), "SHOTS": shots, "SLOW": str(SLOW),
                       "WEB_PACKAGE": os.path.join(ROOT, "client", "web", "package.json")}
                script = os.path.join(ROOT, "tests", "web", "dashboard.mjs")
                r = subprocess.run(["node", script], env=env, capture_output=True, text=True,
                                   timeout=300 * SLOW, cwd=os.path.join(ROOT, "client", "web"))
                print(r.stdout, end="")
                self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-3000:])
                self.assertEqual(c.result("job.get", {"job_id": running})["state"], "cancelled")
                c.close()
            finally:
                daemon.close()


if __name__ == "__main__":
    run_tests()
