#!/usr/bin/python3
"""One byol-train job over MPI ranks (Open MPI's mpirun, shared memory), against
the same job in one process: the first steps' losses and the weights after
step 1 agree to 1e-5 (only summation order differs), and the final kNN and
linear top-1 to 0.5 points, over shared memory, over TCP, and with the ranks on two "hosts" (network
namespaces joined by a veth pair); without sync_bn each rank's BatchNorm
statistics are its own, so they differ; a batch that does not split over the ranks is refused at start; a
rank killed mid-run ends the whole job within 10 s naming the rank, with no
process left behind, and a hung one at the others' stall timeout; SIGUSR1 to mpirun checkpoints and stops every rank at
once, SIGTERM does when mpirun's kill timeout leaves the ranks time for it; the
run resumed on 2 ranks is bit for bit the uninterrupted one, and resumed in
one process it follows the one-process run up to summation order. Under a
Slurm started for the test, srun runs it as mpirun does. Through byold, a
2-rank job is a job like any other.
"""
import datetime
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ref"))
from byold_harness import (SANITIZED, SLOW, SMALL, Daemon, run_tests, wait_done,  # noqa: E402
                           wait_for)
import stio  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
TRAIN = os.path.abspath(os.path.join(BUILD, "byol-train"))
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
# 5 steps an epoch of batch 128 on 640 images; the learning rate warms up over the
# first epochs, as a real run's first steps do.
SETS = {"data.limit": 640, "eval_data.limit": 2000, "train.batch_size": 128,
        "train.epochs": 2, "optim.warmup_epochs": 2, "train.log_every": 1,
        "checkpoint.every_steps": 1, "checkpoint.keep_last": 20, "eval.linear.epochs": 10,
        "eval.every_epochs": 0, "eval.knn.k": 20}
ENV = {**os.environ, "OMPI_MCA_btl": "self,vader"}
if SANITIZED:  # Open MPI's own allocations are not the project's leaks
    ENV["ASAN_OPTIONS"] = ENV.get("ASAN_OPTIONS", "") + ":detect_leaks=0"


def train_args(out, threads, **sets):
    args = [TRAIN, "fmnist-quick", "--out", out, "--jsonl"]
    for key, value in {**SETS, "threads": threads, **sets}.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    return args


def run(args, ranks=1, timeout=300, launcher=None, env=None):
    """Events of a run (rank 0's stdout); fails the test if it fails."""
    cmd = (launcher or MPIRUN + ["-np", str(ranks)] if ranks > 1 else []) + args
    done = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV,
                          timeout=timeout * SLOW)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def losses(events):
    return [e["loss"] for e in events if e["event"] == "step"]


def weights(out, step):
    tensors, _ = stio.load(os.path.join(out, "checkpoints", f"step-{step:08d}.safetensors"))
    return {k: v.double().numpy() for k, v in tensors.items()}


def worst_difference(a, b):
    """Largest |a − b| over every tensor, relative to that tensor's largest |b| (≥ 1)."""
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) / max(1.0, float(np.max(np.abs(b[k]))))
               for k in a if a[k].size)


def top1(events, kind):
    return [e["top1"] for e in events if e["event"] == "eval" and e["kind"] == kind][-1]


class MPITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.one_dir = os.path.join(cls.tmp.name, "one")
        cls.one = run(train_args(cls.one_dir, 2))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def test_two_ranks_match_one_process(self):
        two = run(train_args(self.out("two"), 1), ranks=2)
        self.check_matches_one_process("two", two)
        for kind in ("knn", "linear"):
            print(f"two ranks: final {kind} top-1 {top1(two, kind)}%, one process "
                  f"{top1(self.one, kind)}%")
            self.assertAlmostEqual(top1(two, kind), top1(self.one, kind), delta=0.5)
        # rank 0 alone wrote the run: one metrics file, one set of checkpoints
        self.assertEqual(len(glob.glob(self.out("two") + "/checkpoints/*")),
                         len(glob.glob(self.one_dir + "/checkpoints/*")))

    def check_matches_one_process(self, name, events):
        for step, (a, b) in enumerate(zip(losses(events)[:5], losses(self.one)[:5]), 1):
            self.assertLess(abs(a - b) / abs(b), 1e-5, f"step {step}: loss {a} vs {b}")
        diff = worst_difference(weights(self.out(name), 1), weights(self.one_dir, 1))
        print(f"{name}: weights after step 1 within {diff:.2e} of one process")
        self.assertLess(diff, 1e-5)

    def test_over_tcp(self):
        env = {**ENV, "OMPI_MCA_btl": "tcp,self"}
        self.check_matches_one_process("tcp", run(train_args(self.out("tcp"), 1), ranks=2,
                                                  env=env))

    def test_two_hosts_joined_by_a_veth_pair(self):
        """Each rank in its own network namespace with its own address; mpirun starts
        the second through `ip netns exec` where it would use ssh."""
        with Namespaces(self.tmp.name) as ns:
            launcher = ["ip", "netns", "exec", ns.names[0]] + MPIRUN + [
                "-np", "2", "--host", ",".join(ns.addrs), "--mca", "plm_rsh_agent", ns.agent,
                "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", ns.net,
                "--mca", "oob_tcp_if_include", ns.net]
            events = run(train_args(self.out("hosts"), 1), ranks=2, launcher=launcher)
            self.check_matches_one_process("hosts", events)

    def test_without_sync_bn_the_ranks_statistics_are_their_own(self):
        run(train_args(self.out("local-bn"), 1, **{"train.sync_bn": False}), ranks=2)
        local = weights(self.out("local-bn"), 1)
        synced = weights(self.one_dir, 1)
        stats = [k for k in local if k.endswith("running_var")]
        self.assertTrue(stats)
        diff = max(float(np.max(np.abs(local[k] - synced[k]) / np.abs(synced[k]))) for k in stats)
        print(f"without sync_bn: running variances differ by up to {diff:.1%} after step 1")
        self.assertGreater(diff, 1e-3)

    def test_a_batch_that_does_not_split_is_refused(self):
        cmd = MPIRUN + ["-np", "2"] + train_args(self.out("uneven"), 1,
                                                 **{"train.batch_size": 129})
        done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=60 * SLOW)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("does not split evenly over 2 ranks", done.stderr)

    def long_run(self, name, env=ENV):
        """A 2-rank run of 50 epochs, its launcher and its ranks' pids, once it trains."""
        proc = subprocess.Popen(MPIRUN + ["-np", "2"] + train_args(self.out(name), 1,
                                                                   **{"train.epochs": 50}),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        proc.stdout.readline()  # the first step: both ranks are training
        ranks = rank_pids(proc.pid)
        self.assertEqual(len(ranks), 2, ranks)
        return proc, ranks

    @staticmethod
    def ending(proc, what):
        """The launcher's stderr once it exits, and the seconds that took."""
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60 * SLOW)
        took = time.monotonic() - t0
        print(f"{what}: the job ended in {took:.1f} s")
        return err, took

    def test_a_killed_rank_ends_the_job_naming_it(self):
        proc, ranks = self.long_run("killed")
        victim = ranks[0]
        victim_rank = rank_of(victim)
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        err, took = self.ending(proc, "a rank killed")
        self.assertNotEqual(proc.returncode, 0)
        self.assertLess(took, 10 * SLOW)
        self.assertRegex(err, rf"rank {victim_rank}\b")
        deadline = time.monotonic() + 10 * SLOW  # the survivor is being killed by mpirun
        while [p for p in ranks if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"no rank left {time.monotonic() - t0:.1f} s after the kill")
        self.assertEqual([p for p in ranks if alive(p)], [])

    def test_a_hung_rank_ends_the_job_at_the_stall_timeout(self):
        proc, ranks = self.long_run("hung", env={**ENV, "BYOL_MPI_TIMEOUT": "3"})
        hung = rank_of(ranks[0])
        os.kill(ranks[0], signal.SIGSTOP)
        err, took = self.ending(proc, "a rank stopped (SIGSTOP)")
        self.assertNotEqual(proc.returncode, 0)
        self.assertLess(took, 15 * SLOW)
        self.assertRegex(err, rf"rank {1 - hung}: a collective made no progress for 3 s")
        for p in ranks:
            if alive(p):
                os.kill(p, signal.SIGKILL)

    def test_sigusr1_checkpoints_and_the_run_resumes_on_any_rank_count(self):
        out = self.out("stopped")
        proc = subprocess.Popen(MPIRUN + ["-np", "2"] + train_args(out, 1),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=ENV)
        for _ in range(3):
            proc.stdout.readline()  # step 1, its checkpoint, step 2
        proc.send_signal(signal.SIGUSR1)  # mpirun forwards it to every rank at once
        rest, err = proc.communicate(timeout=60 * SLOW)
        self.assertEqual(proc.returncode, 0, err[-3000:])
        self.assertIn("byol-train: stopped at step", err)
        events = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
        last = [e for e in events if e["event"] == "checkpoint"][-1]
        self.assertLess(last["step"], 10)
        # on 2 ranks again: bit for bit the uninterrupted 2-rank run
        again = run(train_args(self.out("again"), 1) + ["--resume", last["path"]], ranks=2)
        whole = run(train_args(self.out("whole"), 1), ranks=2)
        self.assertEqual(losses(again), losses(whole)[last["step"]:])
        self.assertEqual(worst_difference(weights(self.out("again"), 10),
                                          weights(self.out("whole"), 10)), 0)
        # on 1 process: the uninterrupted 1-process run, up to summation order
        single = run(train_args(self.out("single"), 2) + ["--resume", last["path"]])
        diff = max(abs(a - b) / b for a, b in zip(losses(single),
                                                  losses(self.one)[last["step"]:]))
        print(f"stopped at step {last['step']} on 2 ranks: resumed on 2, bit for bit the "
              f"uninterrupted run; on 1, losses within {diff:.1e} of one process's")
        self.assertLess(diff, 3e-3)

    def test_sigterm_in_a_long_step_checkpoints_when_mpirun_waits_for_it(self):
        """mpirun answers SIGTERM with SIGCONT, then SIGTERM and SIGKILL to its ranks
        odls_base_sigkill_timeout seconds apart; given the time, the ranks finish
        their step (several gradient buckets in flight) and write the checkpoint."""
        out = self.out("terminated")
        grace = 10 * SLOW
        sets = {"model.encoder": "resnet18", "model.width": 0.25, "train.epochs": 100,
                "checkpoint.every_steps": 1000,
                "eval.linear.epochs": 0}
        proc = subprocess.Popen(MPIRUN + ["-np", "2", "--mca", "odls_base_sigkill_timeout",
                                          str(grace)] + train_args(out, 1, **sets),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=ENV)
        proc.stdout.readline()  # step 1: the next one is under way
        proc.send_signal(signal.SIGTERM)
        sent = time.time()
        rest, err = proc.communicate(timeout=4 * grace + 60)
        # a SIGKILL from mpirun would leave neither the checkpoint nor the message
        self.assertIn("byol-train: stopped at step", err)
        events = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
        saved = [e for e in events if e["event"] == "checkpoint"]
        self.assertEqual(len(saved), 1, err[-3000:])
        self.assertTrue(os.path.exists(saved[0]["path"]))
        at = datetime.datetime.fromisoformat(saved[0]["time"].replace("Z", "+00:00")).timestamp()
        print(f"SIGTERM: the ranks stopped at step {saved[0]['step']} and checkpointed "
              f"{at - sent:.1f} s after it (mpirun's kill timeout {grace} s)")


SLURM_CONF = """ClusterName=byoltest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={port}
SlurmdPort={port1}
AuthType=auth/munge
AuthInfo=socket={tmp}/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation={tmp}/state
SlurmdSpoolDir={tmp}/spool
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmdPidFile={tmp}/slurmd.pid
SlurmctldLogFile={tmp}/slurmctld.log
SlurmdLogFile={tmp}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


class SlurmTest(unittest.TestCase):
    """srun under a Slurm of this host started for the test (munged, slurmctld and
    slurmd in a temporary directory): the run of mpirun, bit for bit."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        t = self.tmp.name
        for d in ("state", "spool"):
            os.mkdir(os.path.join(t, d))
        key = os.path.join(t, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        subprocess.run(["munged", "--force", f"--socket={t}/munge.sock", f"--key-file={key}",
                        f"--pid-file={t}/munged.pid", f"--log-file={t}/munged.log",
                        f"--seed-file={t}/munged.seed"], check=True)
        port = 20000 + os.getpid() % 20000
        conf = os.path.join(t, "slurm.conf")
        with open(conf, "w") as f:
            f.write(SLURM_CONF.format(host=os.uname().nodename.split(".")[0], port=port,
                                      port1=port + 1, tmp=t, cpus=os.cpu_count()))
        self.env = {**ENV, "SLURM_CONF": conf}
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([daemon, "-f", conf], check=True, env=self.env)
        wait_for(lambda: "idle" in subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env,
                                                  capture_output=True, text=True).stdout,
                 30, what="slurmd idle")

    def tearDown(self):
        for name in ("slurmd", "slurmctld", "munged"):
            try:
                with open(os.path.join(self.tmp.name, f"{name}.pid")) as f:
                    os.kill(int(f.read()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(0.5)
        self.tmp.cleanup()

    def test_srun_trains_as_mpirun_does(self):
        srun = ["srun", "-n", "2", "--mpi=pmix"]
        a = os.path.join(self.tmp.name, "srun")
        b = os.path.join(self.tmp.name, "mpirun")
        by_srun = run(train_args(a, 1), ranks=2, launcher=srun, env=self.env)
        by_mpirun = run(train_args(b, 1), ranks=2)
        self.assertEqual(losses(by_srun), losses(by_mpirun))
        self.assertEqual(worst_difference(weights(a, 10), weights(b, 10)), 0)

    def test_sigusr1_to_srun_checkpoints_and_stops_every_rank(self):
        out = os.path.join(self.tmp.name, "stopped")
        proc = subprocess.Popen(["srun", "-n", "2", "--mpi=pmix"] + train_args(out, 1),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env)
        proc.stdout.readline()  # step 1
        proc.send_signal(signal.SIGUSR1)  # srun forwards it to its tasks
        rest, err = proc.communicate(timeout=60 * SLOW)
        self.assertIn("byol-train: stopped at step", err)
        saved = [json.loads(line) for line in rest.splitlines() if '"checkpoint"' in line]
        self.assertTrue(saved and os.path.exists(saved[-1]["path"]), err[-3000:])


class ByoldTest(unittest.TestCase):
    """A 2-rank job through byold: its events live, cancel, a resubmit, kill -9 of
    byold and the recovery; its history, metrics and checkpoints as a local job's."""

    JOB = {**SMALL, "data.limit": 1024, "train.epochs": 3, "checkpoint.every_steps": 8,
           "threads": 2}

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.state = os.path.join(self.tmp.name, "state")
        self.daemon = Daemon(self.state, env=ENV)

    def tearDown(self):
        self.daemon.close()
        self.tmp.cleanup()

    def submit(self, c, ranks):
        job = {**self.JOB, "distributed.ranks": ranks}
        return c.result("job.submit", {"preset": "fmnist-convnet", "set": job})["job_id"]

    def test_a_two_rank_job_is_a_job_like_any_other(self):
        c = self.daemon.unix()
        first = self.submit(c, 2)
        c.result("job.subscribe", {"job_id": first})
        ev = c.next_event(timeout=60 * SLOW)
        while ev["event"] != "step":
            ev = c.next_event(timeout=60 * SLOW)
        self.assertEqual(ev["job_id"], first)
        # paused between steps: its ranks checkpoint and end; resumed, it goes on
        c.result("job.pause", {"job_id": first})
        wait_for(lambda: c.result("job.get", {"job_id": first})["state"] == "paused" and
                 not train_processes(self.state), 60 * SLOW, what="paused, no rank left")
        paused_at = c.result("job.get", {"job_id": first})["step"]
        saved = c.result("checkpoint.list", {"job_id": first})["checkpoints"]
        self.assertEqual(saved[-1]["step"], paused_at)
        c.result("job.resume", {"job_id": first})
        wait_for(lambda: c.result("job.get", {"job_id": first})["step"] > paused_at,
                 60 * SLOW, what="a step after the resume")
        c.result("job.cancel", {"job_id": first})
        self.assertEqual(wait_done(c, first)["state"], "cancelled")
        wait_for(lambda: not train_processes(self.state), 10 * SLOW, what="no byol-train left")

        second = self.submit(c, 2)
        wait_for(lambda: (c.result("job.metrics", {"job_id": second})["points"] or
                          [{"step": 0}])[-1]["step"] >= 12, 120 * SLOW, what="step 12")
        self.daemon.kill()
        self.daemon.close()
        wait_for(lambda: not train_processes(self.state), 10 * SLOW,
                 what="the ranks gone with byold")
        self.daemon = Daemon(self.state, env=ENV)
        c = self.daemon.unix()
        job = wait_done(c, second, timeout=300 * SLOW)
        self.assertEqual(job["state"], "completed", job)
        logs = [l["message"] for l in c.result("job.logs", {"job_id": second})["lines"]]
        self.assertTrue(any("resum" in m for m in logs), logs)

        local = self.submit(c, 1)
        ref = wait_done(c, local, timeout=300 * SLOW)
        self.assertEqual(ref["state"], "completed", ref)
        self.assertEqual(job.keys(), ref.keys())
        self.assertEqual(job["step"], ref["step"])
        self.assertAlmostEqual(job["final_loss"], ref["final_loss"], delta=0.05 * ref["final_loss"])
        self.assertEqual({e["kind"] for e in job["evals"]}, {e["kind"] for e in ref["evals"]})
        points = [c.result("job.metrics", {"job_id": j})["points"] for j in (second, local)]
        self.assertEqual([p["step"] for p in points[0]], [p["step"] for p in points[1]])
        self.assertEqual(points[0][0].keys(), points[1][0].keys())
        ckpts = [c.result("checkpoint.list", {"job_id": j})["checkpoints"] for j in (second, local)]
        self.assertEqual([k["step"] for k in ckpts[0]], [k["step"] for k in ckpts[1]])
        runs = c.result("history.query", {"spec": {"distributed.ranks": 2}})["runs"]
        self.assertIn(second, [r["job_id"] for r in runs])


    def test_submits_byold_cannot_run_are_refused(self):
        """A spec may name any file byold can read, so byold reads no hostfile (the token
        stays unread); nor does it start more local ranks than cores, or a batch that
        does not split over the ranks."""
        c = self.daemon.unix()
        token_path = os.path.join(self.state, "token")
        with open(token_path) as f:
            token = f.read().strip()
        for bad, says in (({"distributed.hostfile": token_path}, "byold reads no file"),
                          ({"distributed.ranks": 64}, "on this host of"),
                          ({"train.batch_size": 65}, "does not split evenly over 2 ranks")):
            job = {**self.JOB, "distributed.ranks": 2, **bad}
            r = c.call("job.submit", {"preset": "fmnist-convnet", "set": job})
            self.assertIn("error", r, bad)
            self.assertIn(says, json.dumps(r))
            self.assertNotIn(token, json.dumps(r))
        self.assertEqual(c.result("job.list", {})["jobs"], [])


def train_processes(state):
    """The launchers and ranks byold started for jobs under state."""
    out = subprocess.run(["ps", "-eo", "comm,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if line.startswith(("byol-train", "mpirun")) and state in line]


class Namespaces:
    """Two network namespaces joined by a veth pair, 10.77.N.1 and 10.77.N.2, and an
    rsh agent for mpirun that runs a command in the namespace owning a host."""

    def __init__(self, tmp):
        tag = os.getpid() % 200 + 20
        self.names = [f"byol{tag}a", f"byol{tag}b"]
        self.addrs = [f"10.77.{tag}.1", f"10.77.{tag}.2"]
        self.net = f"10.77.{tag}.0/24"
        self.agent = os.path.join(tmp, "netns-agent")
        cases = "".join(f"{a}) ns={n} ;; " for a, n in zip(self.addrs, self.names))
        with open(self.agent, "w") as f:
            f.write(f'#!/bin/sh\nhost=$1; shift\ncase $host in {cases}*) exit 1 ;; esac\n'
                    'exec ip netns exec $ns sh -c "$*"\n')
        os.chmod(self.agent, 0o755)

    def __enter__(self):
        a, b = self.names
        ip = lambda *args: subprocess.run(["ip", *args], check=True)  # noqa: E731
        ip("netns", "add", a)
        ip("netns", "add", b)
        ip("link", "add", f"{a}0", "type", "veth", "peer", "name", f"{b}0")
        for ns, addr in zip(self.names, self.addrs):
            ip("link", "set", f"{ns}0", "netns", ns)
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", f"{ns}0")
            ip("-n", ns, "link", "set", f"{ns}0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc):
        for ns in self.names:
            subprocess.run(["ip", "netns", "del", ns], check=False)


def rank_pids(mpirun_pid, timeout=10):
    """The byol-train processes mpirun started (its descendants)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ps", "-eo", "pid,ppid,comm"], capture_output=True,
                             text=True).stdout.split("\n")[1:]
        procs = [line.split() for line in out if line.strip()]
        children = {int(p[0]) for p in procs if int(p[1]) == mpirun_pid}
        found = sorted(int(p[0]) for p in procs if p[2] == "byol-train" and
                       (int(p[1]) in children or int(p[1]) == mpirun_pid))
        if len(found) >= 2:
            return found
        time.sleep(0.1)
    return []


def rank_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
    return int(env[b"OMPI_COMM_WORLD_RANK"])


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


if __name__ == "__main__":
    run_tests()
