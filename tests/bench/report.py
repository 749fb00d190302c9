"""Text tables of make bench's JSON lines.

Usage: report.py machine MACHINE.jsonl          the kernel set, sgemm and memory bandwidth
       report.py ops BYOL.jsonl TORCH.jsonl     per-op and per-encoder tables
       report.py steps MACHINE.jsonl STEPS.jsonl   BYOL steps and per-layer profiles
       report.py BYOL.jsonl TORCH.jsonl         (same as ops)

ops: rows are matched by (kind, name); ops are listed first, then encoders, each
in the order of first appearance (byol's file first). The speed ratio is
torch total_ms / byol total_ms, so > 1 means byol is faster. Values missing
on either side print "-". Lines that are not JSON objects are ignored.
steps: see steps_report.py.
"""
import json
import sys

import steps_report

COLUMNS = ("name", "byol fwd ms", "bwd ms", "total ms", "GFLOP/s", "peak RSS MB",
           "torch total ms", "torch RSS MB", "speed ratio")
KINDS = (("op", "Ops"), ("encoder", "Encoders"))


def read_records(path):
    """JSON object lines of one benchmark output file."""
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def fmt(value, digits=2):
    """A number with fixed decimals, or "-" when missing."""
    return "-" if value is None else f"{value:.{digits}f}"


def row(name, byol, torch):
    """Table cells for one benchmark case (byol/torch are dicts, maybe empty)."""
    ratio = None
    if byol.get("total_ms") and torch.get("total_ms") is not None:
        ratio = torch["total_ms"] / byol["total_ms"]
    return (name, fmt(byol.get("fwd_ms")), fmt(byol.get("bwd_ms")), fmt(byol.get("total_ms")),
            fmt(byol.get("gflops_total")), fmt(byol.get("peak_rss_mb"), 1),
            fmt(torch.get("total_ms")), fmt(torch.get("peak_rss_mb"), 1), fmt(ratio))


def table(rows, columns=COLUMNS, left=1):
    """Aligned lines: the first `left` columns left-aligned, the others right-aligned."""
    rows = [columns] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = []
    for r in rows:
        cells = [c.ljust(w) if i < left else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append(" | ".join(cells))
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return lines


def threads_line(byol, torch):
    """Header naming the thread count(s) each side ran with and byol's BLAS kernels."""
    def counts(records):
        found = sorted({str(r["threads"]) for r in records if "threads" in r})
        return ",".join(found) or "?"
    b, t = counts(byol), counts(torch)
    line = f"threads: {b}" if b == t else f"threads: byol {b}, torch {t}"
    cores = sorted({r["blas_core"] for r in byol if "blas_core" in r})
    if cores:
        line += f"; byol's OpenBLAS kernels: {','.join(cores)}"
    return line


def report(byol_records, torch_records):
    """All output lines: thread header, then one table per kind present."""
    byol = {(r.get("kind"), r.get("name")): r for r in byol_records}
    torch = {(r.get("kind"), r.get("name")): r for r in torch_records}
    keys = list(dict.fromkeys(list(byol) + list(torch)))
    lines = [threads_line(byol_records, torch_records)]
    for kind, title in KINDS:
        names = [name for k, name in keys if k == kind]
        if names:
            rows = [row(n, byol.get((kind, n), {}), torch.get((kind, n), {})) for n in names]
            lines += ["", title] + table(rows)
    return lines


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] not in ("machine", "ops", "steps"):
        args = ["ops"] + args
    if args[:1] == ["machine"] and len(args) == 2:
        lines = steps_report.machine_lines(read_records(args[1]))
    elif args[:1] == ["ops"] and len(args) == 3:
        lines = report(read_records(args[1]), read_records(args[2]))
    elif args[:1] == ["steps"] and len(args) == 3:
        lines = steps_report.report(read_records(args[1]), read_records(args[2]), table)
    else:
        sys.exit(__doc__.split("\n\n")[1])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
