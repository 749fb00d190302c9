#!/usr/bin/python3
"""job.subscribe, job.unsubscribe and job.eval against a real byold.

A subscriber from the start sees every step once, in order, with the job's
checkpoints, evaluations, state changes and its end; one that joins mid-run
with since_step sees the stored points after it and then the live ones, with
no gap and no repeat where the replay meets the live stream (the replay is
paged, so the job logs more points than one page); one that subscribes to a
finished job gets the whole history ending with `end`. Pause, resume and
cancel reach subscribers as state events. job.eval evaluates a checkpoint on
request and its result arrives as an eval event and in job.get.
"""
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byold_harness import SMALL, Daemon, run_tests, wait_for  # noqa: E402

# More steps than one replay page (256): 128 steps an epoch.
LONG = {**SMALL, "data.limit": 2048, "train.batch_size": 16, "train.epochs": 3,
        "checkpoint.every_steps": 100}
TOTAL = 384


def events_until_end(client, timeout=120):
    out = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        ev = client.next_event(timeout=max(1, deadline - time.time()))
        out.append(ev)
        if ev["event"] == "end":
            return out
    raise AssertionError("no end event")


def steps_of(events):
    return [e["step"] for e in events if e["event"] == "step"]


class StreamTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.daemon = Daemon(os.path.join(self.tmp.name, "var"))

    def tearDown(self):
        self.daemon.close()
        self.tmp.cleanup()

    def test_replay_then_live(self):
        ctl = self.daemon.unix()
        job_id = ctl.result("job.submit", {"preset": "fmnist-convnet", "set": LONG,
                                           "paused": True})["job_id"]
        first = self.daemon.unix()
        sub = first.result("job.subscribe", {"job_id": job_id})["subscription"]
        self.assertGreater(sub, 0)
        ctl.result("job.resume", {"job_id": job_id})
        # Join once 300 points are stored: the replay takes two pages, then goes live.
        while ctl.result("job.get", {"job_id": job_id})["step"] < 300:
            time.sleep(0.02)
        late = self.daemon.unix()
        late.result("job.subscribe", {"job_id": job_id, "since_step": 10})
        seen = events_until_end(first)
        self.assertEqual(steps_of(seen), list(range(1, TOTAL + 1)))
        for ev in seen:
            self.assertEqual((ev["subscription"], ev["job_id"]), (sub, job_id))
            self.assertIn("time", ev)
        point = next(e for e in seen if e["event"] == "step")
        for key in ("epoch", "loss", "tau", "lr", "img_s", "z_std"):
            self.assertIn(key, point)
        self.assertEqual([e["step"] for e in seen if e["event"] == "checkpoint"],
                         [100, 200, 300, TOTAL])
        self.assertTrue(all(e["checkpoint_id"] > 0 for e in seen if e["event"] == "checkpoint"))
        self.assertEqual([e["kind"] for e in seen if e["event"] == "eval"], ["knn", "linear"])
        self.assertEqual(sum(e["event"] == "epoch" for e in seen), 3)
        # Subscribed while paused, then resumed (through queued if no worker had it yet).
        changes = [(e["from"], e["to"]) for e in seen if e["event"] == "state"]
        self.assertEqual((changes[0], changes[-1][1]), (("paused", "paused"), "running"))
        self.assertEqual(seen[-1]["state"], "completed")
        self.assertIn("top1", seen[-1])

        late_seen = events_until_end(late)
        self.assertEqual(steps_of(late_seen), list(range(11, TOTAL + 1)))
        self.assertEqual(late_seen[-1]["state"], "completed")

        # A finished job: its whole history, then end.
        after = self.daemon.unix()
        after.result("job.subscribe", {"job_id": job_id})
        replay = events_until_end(after)
        self.assertEqual(steps_of(replay), list(range(1, TOTAL + 1)))
        # keep_last (3) removed the first checkpoint's file, and its index row with it.
        self.assertEqual([e["step"] for e in replay if e["event"] == "checkpoint"],
                         [200, 300, TOTAL])
        listed = after.result("checkpoint.list", {"job_id": job_id})["checkpoints"]
        self.assertEqual([k["step"] for k in listed], [200, 300, TOTAL])
        self.assertEqual(sorted(e["kind"] for e in replay if e["event"] == "eval"),
                         ["knn", "linear"])
        end = replay[-1]
        self.assertEqual((end["state"], end["step"]), ("completed", TOTAL))
        self.assertEqual(end["top1"], seen[-1]["top1"])

    def test_control_events_and_unsubscribe(self):
        c = self.daemon.unix()
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": LONG})["job_id"]
        sub = c.result("job.subscribe", {"job_id": job_id})["subscription"]
        before = [c.next_event()]
        while before[-1]["event"] != "step":
            before.append(c.next_event())
        self.assertEqual(c.result("job.pause", {"job_id": job_id})["state"], "paused")
        time.sleep(0.5)  # the step in flight ends
        step = c.result("job.get", {"job_id": job_id})["step"]
        time.sleep(1.0)
        self.assertEqual(c.result("job.get", {"job_id": job_id})["step"], step)
        # A paused job gave its worker back: resumed, it waits for one again.
        self.assertEqual(c.result("job.resume", {"job_id": job_id})["state"], "queued")
        wait_for(lambda: c.result("job.get", {"job_id": job_id})["step"] > step, 60,
                 what="the resumed job training")
        self.assertEqual(c.result("job.cancel", {"job_id": job_id})["state"], "cancelled")
        self.assertEqual(c.call("job.cancel", {"job_id": job_id})["error"]["code"], -32009)
        seen = before + events_until_end(c)
        changes = [(e["from"], e["to"]) for e in seen if e["event"] == "state"]
        i = changes.index(("running", "paused"))
        self.assertEqual(changes[i:i + 3], [("running", "paused"), ("paused", "queued"),
                                            ("queued", "running")])
        self.assertEqual(seen[-1]["state"], "cancelled")
        steps = steps_of(seen)
        self.assertEqual(steps, sorted(set(steps)))
        self.assertTrue(c.result("job.unsubscribe", {"subscription": sub})["ok"])
        self.assertEqual(c.call("job.unsubscribe", {"subscription": sub})["error"]["code"],
                         -32004)
        self.assertEqual(c.call("job.subscribe", {"job_id": 999})["error"]["code"], -32004)
        self.assertEqual(c.call("job.subscribe", {"job_id": job_id, "since_step": -1})
                         ["error"]["code"], -32602)

    def test_eval_on_request(self):
        c = self.daemon.unix()
        r = c.call("job.eval", {"job_id": 1, "kind": "knn"})
        self.assertEqual(r["error"]["code"], -32004)
        job_id = c.result("job.submit", {"preset": "fmnist-convnet", "set": SMALL})["job_id"]
        other = c.result("job.submit", {"preset": "fmnist-convnet",
                                        "set": {**SMALL, "train.epochs": 1}})["job_id"]
        c.result("job.subscribe", {"job_id": job_id})
        events_until_end(c)
        c.events.clear()
        ckpts = c.result("checkpoint.list", {"job_id": job_id})["checkpoints"]
        self.assertEqual(c.call("job.eval", {"job_id": job_id, "kind": "svm"})
                         ["error"]["code"], -32602)
        # The newest checkpoint by default; a named one of the same job.
        knn = c.result("job.eval", {"job_id": job_id, "kind": "knn"})["eval_id"]
        lin = c.result("job.eval", {"job_id": job_id, "kind": "linear",
                                    "checkpoint_id": ckpts[0]["checkpoint_id"]})["eval_id"]
        got = {}
        while len(got) < 2:
            ev = c.next_event()
            if ev["event"] == "eval":
                got[ev["eval_id"]] = ev
        self.assertEqual((got[knn]["kind"], got[knn]["step"]), ("knn", ckpts[-1]["step"]))
        self.assertEqual((got[lin]["kind"], got[lin]["step"]), ("linear", ckpts[0]["step"]))
        self.assertTrue(0 <= got[lin]["top1"] <= 100)
        evals = {e["eval_id"]: e for e in c.result("job.get", {"job_id": job_id})["evals"]}
        self.assertEqual(evals[knn]["state"], "done")
        self.assertEqual(evals[knn]["top1"], got[knn]["top1"])
        self.assertEqual(evals[lin]["checkpoint_id"], ckpts[0]["checkpoint_id"])
        # A checkpoint of another job is not this job's.
        theirs = c.result("checkpoint.list", {"job_id": other})
        while not theirs["checkpoints"]:
            time.sleep(0.1)
            theirs = c.result("checkpoint.list", {"job_id": other})
        r = c.call("job.eval", {"job_id": job_id,
                                "checkpoint_id": theirs["checkpoints"][0]["checkpoint_id"]})
        self.assertEqual(r["error"]["code"], -32004)
        # A job without checkpoints cannot be evaluated yet.
        queued = c.result("job.submit", {"preset": "fmnist-convnet", "set": SMALL,
                                         "paused": True})["job_id"]
        self.assertEqual(c.call("job.eval", {"job_id": queued})["error"]["code"], -32009)


if __name__ == "__main__":
    run_tests()
