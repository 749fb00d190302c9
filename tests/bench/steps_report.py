"""make bench's machine lines, BYOL-step table and per-layer profiles, as text.

Used by report.py (`report.py machine ...`, `report.py steps ...`).

Step table, per encoder: medians over the interleaved runs of byol's and
PyTorch's img/s (ratio > 1: byol is faster), byol's effective GFLOP/s (conv and
linear FLOPs of a step over its median time) beside the large sgemm of the same
run on the same threads, and the peak RSS of each side (largest run).

Profiles: milliseconds per step, the online and target nets summed over both
views; convs and linears split their backward into the input's gradient
(data) and the weights'. Elementwise passes show GB/s (reads + writes of their
arrays) against the triad bandwidth measured in the same run. "other" is the
step's time outside every timed part (input copies, timers).
"""
import statistics

ISA = {"Haswell": "AVX2", "Zen": "AVX2", "SkylakeX": "AVX-512", "Cooperlake": "AVX-512",
       "SapphireRapids": "AVX-512"}


def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def pct(value):
    return "-" if value is None else f"{100 * value:.1f}%"


def machine_of(records):
    return next((r for r in records if r.get("kind") == "machine"), {})


def machine_lines(records):
    """The kernel set lines: CPU extensions, OpenBLAS kernels, sgemm and bandwidth."""
    m = machine_of(records)
    if not m:
        return ["kernel set: unknown (no machine line)"]

    def yes(key):
        return "yes" if m.get(key) else "no"
    avx512 = all(m.get(k) for k in ("avx512f", "avx512bw", "avx512vl"))
    env = m.get("openblas_coretype_env")
    core = m.get("blas_core", "?")
    why = f"OPENBLAS_CORETYPE={env}" if env else "OPENBLAS_CORETYPE unset: byol's choice"
    return [
        f"kernel set: CPU AVX2 {yes('avx2')} (FMA {yes('fma')}), "
        f"AVX-512 {'yes (F, BW, VL)' if avx512 else 'no (F ' + yes('avx512f') + ')'}; "
        f"OpenBLAS kernels {core} = {ISA.get(core, '?')} ({why}); byol's own kernels: "
        f"{m.get('byol_isa', '?')}",
        f"kernel set: large sgemm {m['sgemm_n']}^3 on {m['threads']} threads, best of 5: "
        f"{m['sgemm_gflops']:.1f} GFLOP/s split over byol's pool (the 'of sgemm' base), "
        f"{m['sgemm_openblas_threads_gflops']:.1f} GFLOP/s OpenBLAS-threaded",
        f"kernel set: memory bandwidth on {m['threads']} threads, {m['stream_mib']} MiB arrays: "
        f"copy {m['copy_gbs']:.1f} GB/s, triad {m['triad_gbs']:.1f} GB/s (reads + writes)",
    ]


STEP_COLUMNS = ("encoder", "byol img/s", "torch img/s", "ratio", "byol ms/step", "GFLOP/step",
                "byol GFLOP/s", "sgemm GFLOP/s", "of sgemm", "byol RSS MB", "torch RSS MB",
                "byol runs", "torch runs")


def step_row(name, byol, torch, sgemm):
    """One encoder's cells from its byol and torch step records."""
    b_img = statistics.median(r["img_s"] for r in byol) if byol else None
    t_img = statistics.median(r["img_s"] for r in torch) if torch else None
    ms = statistics.median(r["ms_per_step"] for r in byol) if byol else None
    gflop = byol[0].get("gflop_per_step") if byol else None
    gflops = gflop / ms * 1e3 if gflop and ms else None
    return (name, fmt(b_img), fmt(t_img), fmt(b_img / t_img if b_img and t_img else None, 2),
            fmt(ms), fmt(gflop), fmt(gflops), fmt(sgemm),
            pct(gflops / sgemm if gflops and sgemm else None),
            fmt(max((r["peak_rss_mb"] for r in byol), default=None)),
            fmt(max((r["peak_rss_mb"] for r in torch), default=None)),
            "/".join(fmt(r["img_s"]) for r in byol), "/".join(fmt(r["img_s"]) for r in torch))


PROFILE_COLUMNS = ("part", "layer", "op", "shape", "fwd ms", "bwd data ms", "bwd weights ms",
                   "total ms", "share", "GFLOP/s fwd", "bwd data", "bwd weights", "GB/s",
                   "of triad")
OP_COLUMNS = ("op", "layers", "ms/step", "share", "GFLOP/s", "GB/s", "of triad")


def rate(work, ms, scale=1e3):
    return work / ms * scale if work and ms and ms > 0 else None


def layer_row(r, triad):
    gbs = rate(r["mbytes"], r["ms"], 1.0)  # MB per ms = GB/s
    return (r["part"], r["layer"], r["op"], r["shape"], fmt(r["fwd_ms"], 2),
            fmt(r["bwd_data_ms"], 2), fmt(r["bwd_weights_ms"], 2), fmt(r["ms"], 2),
            pct(r["share"]), fmt(rate(r["fwd_gflop"], r["fwd_ms"])),
            fmt(rate(r["bwd_data_gflop"], r["bwd_data_ms"])),
            fmt(rate(r["bwd_weights_gflop"], r["bwd_weights_ms"])), fmt(gbs),
            pct(gbs / triad if gbs and triad else None))


def op_rows(layers, step_ms, triad):
    """Layers summed by op, largest time first."""
    ops = {}
    for r in layers:
        o = ops.setdefault(r["op"], {"n": 0, "ms": 0.0, "gflop": 0.0, "mbytes": 0.0})
        o["n"] += 1
        o["ms"] += r["ms"]
        o["gflop"] += r["gflop"]
        o["mbytes"] += r["mbytes"]
    rows = []
    for op, o in sorted(ops.items(), key=lambda kv: -kv[1]["ms"]):
        gbs = rate(o["mbytes"], o["ms"], 1.0)
        rows.append((op, str(o["n"]), fmt(o["ms"], 2), pct(o["ms"] / step_ms if step_ms else None),
                     fmt(rate(o["gflop"], o["ms"])), fmt(gbs),
                     pct(gbs / triad if gbs and triad else None)))
    return rows


def profile_lines(name, records, plain, triad, table):
    """One encoder's profile: header, by-op summary, per-layer table."""
    layers = [r for r in records if r.get("event") == "profile"]
    bench = next((r for r in records if r.get("event") == "bench"), None)
    if not layers or not bench:
        return ["", f"Per-layer profile: {name}: missing"]
    losses = {r.get("loss") for r in plain}
    same = "yes" if losses == {bench.get("loss")} else \
        f"NO ({sorted(losses)} vs {bench.get('loss')})"
    plain_ms = statistics.median(r["ms_per_step"] for r in plain) if plain else None
    step_ms = bench["ms_per_step"]
    lines = ["", f"Per-layer profile: {name}: {bench['steps']} steps, {step_ms:.1f} ms/step "
             f"profiled ({fmt(plain_ms)} unprofiled); loss equal to the unprofiled runs' bit "
             f"for bit: {same}"]
    lines.append("(ms per step, online + target nets, both views; 'of triad': GB/s over the "
                 "triad bandwidth, past 100% where the arrays fit in the caches)")
    lines += table(op_rows(layers, step_ms, triad), OP_COLUMNS)
    lines.append("")
    lines += table([layer_row(r, triad) for r in layers], PROFILE_COLUMNS, left=4)
    return lines


def report(machine_records, step_records, table):
    """The step table, then every encoder's profile."""
    m = machine_of(machine_records)
    sgemm, triad = m.get("sgemm_gflops"), m.get("triad_gbs")
    names = list(dict.fromkeys(r["encoder"] for r in step_records if "encoder" in r))

    def pick(name, kind, impl):
        return [r for r in step_records
                if r.get("encoder") == name and r.get("kind") == kind and r.get("impl") == impl]
    rows = [step_row(n, pick(n, "step", "byol"), pick(n, "step", "torch"), sgemm) for n in names]
    threads = sorted({str(r["threads"]) for r in step_records if "threads" in r})
    lines = [f"BYOL training step (two synthetic views: online + target, loss, LARS, EMA), "
             f"threads {','.join(threads) or '?'}; medians of the interleaved runs; "
             f"ratio > 1: byol is faster"]
    lines += table(rows, STEP_COLUMNS)
    lines.append("(GFLOP/step counts direct-convolution and linear FLOPs, so convolutions that "
                 "need fewer, such as Winograd's, can take 'of sgemm' past 100%)")
    for n in names:
        lines += profile_lines(n, pick(n, "profile", "byol"), pick(n, "step", "byol"), triad,
                               table)
    return lines
