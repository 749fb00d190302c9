#!/usr/bin/python3
"""byol-train's command line as a person meets it: --help, usage errors that
say what is wrong, the exit codes byolctl gives for the same failures (64
usage, 65 bad spec, 66 unreadable spec or checkpoint, 73 no run directory, 1
a failed job), JSON errors with line and column, the nearest key for an
unknown one, progress lines for people on stderr (events as JSON only in
metrics.jsonl and with --jsonl), --out's parents made, and no directory left
behind by a run that failed before its first step.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from byold_harness import run_tests  # noqa: E402

TRAIN = os.path.abspath(os.path.join(os.environ.get("BUILD", "build"), "byol-train"))
TINY = ["--set", "data.limit=512", "--set", "eval_data.limit=256", "--set", "train.epochs=1",
        "--set", "optim.warmup_epochs=0", "--set", "train.batch_size=128",
        "--set", "eval.linear.epochs=1", "--set", "train.log_every=2"]


def train(*args, cwd=None):
    return subprocess.run([TRAIN, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


class TrainCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_help_and_usage_errors(self):
        r = train("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("--set", "--out", "--resume", "--jsonl", "Exit status", "byol-spec(5)"):
            self.assertIn(word, r.stdout)
        for args, says in ((["fmnist-quick", "--frob"], "unknown option --frob"),
                           (["fmnist-quick", "--out"], "--out needs a value"),
                           ([], "no spec or preset given"),
                           (["a", "b"], "one spec or preset only"),
                           (["fmnist-quick", "--profile"], "--profile goes with --bench")):
            r = train(*args)
            self.assertEqual(r.returncode, 64, args)
            self.assertIn(f"byol-train: {says}", r.stderr, args)
            self.assertIn("usage:", r.stderr)

    def test_exit_codes_name_the_problem(self):
        r = train(os.path.join(self.dir, "missing.json"))
        self.assertEqual(r.returncode, 66)
        self.assertIn("cannot read the spec file", r.stderr)
        bad = self.write("bad.json", '{\n  "name": "x",\n  "train": {"epochs": 3,}\n}\n')
        r = train(bad)
        self.assertEqual(r.returncode, 65)
        self.assertIn("bad.json: not JSON: line 3, column 26", r.stderr)
        r = train("fmnist-quick", "--set", "train.epoch=3")
        self.assertEqual(r.returncode, 65)
        self.assertIn("train.epoch: unknown key (did you mean train.epochs?)", r.stderr)
        r = train("fmnist-quick", "--set", "train.epochs=abc")
        self.assertEqual(r.returncode, 65)
        self.assertIn('train.epochs: expected a number, got "abc"', r.stderr)
        r = train("fmnist-quick", "--resume", os.path.join(self.dir, "nope.safetensors"),
                  "--out", os.path.join(self.dir, "r"))
        self.assertEqual(r.returncode, 66)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "r")))
        blocker = self.write("file", "")
        r = train("fmnist-quick", "--out", os.path.join(blocker, "x"))
        self.assertEqual(r.returncode, 73)
        self.assertIn("cannot create", r.stderr)

    def test_a_failed_start_leaves_nothing(self):
        out = os.path.join(self.dir, "a", "b", "run")
        r = train("fmnist-quick", "--set", "data.path=/nonexistent", "--out", out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "a")))
        kept = os.path.join(self.dir, "kept")
        os.mkdir(kept)  # one that was there before stays
        train("fmnist-quick", "--set", "data.path=/nonexistent", "--out", kept)
        self.assertTrue(os.path.isdir(kept))

    def test_progress_for_people_events_for_programs(self):
        out = os.path.join(self.dir, "x", "y")  # parents made
        r = train("fmnist-quick", *TINY, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertFalse([l for l in lines if "{" in l], r.stderr)
        self.assertIn("step 2/4  epoch 1  loss", r.stderr)
        self.assertIn("epoch 1 done: mean loss", r.stderr)
        self.assertIn("linear probe at step 4: top-1", r.stderr)
        self.assertTrue(lines[-1].startswith("byol-train: done: 4 steps"))
        with open(os.path.join(out, "metrics.jsonl")) as f:
            events = [json.loads(l) for l in f]
        self.assertEqual([e["step"] for e in events if e["event"] == "step"], [2, 4])
        r = train("fmnist-quick", *TINY, "--out", os.path.join(self.dir, "j"), "--jsonl")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len([json.loads(l) for l in r.stdout.splitlines()]), len(events))
        self.assertNotIn("step 2/4", r.stderr)  # the events are for a program: no lines twice


if __name__ == "__main__":
    run_tests()
