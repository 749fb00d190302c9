"""Merge byol's and PyTorch's benchmark JSON lines into one text table.

Usage: report.py BYOL.jsonl TORCH.jsonl

Rows are matched by (kind, name); ops are listed first, then encoders, each
in the order of first appearance (byol's file first). The speed ratio is
torch total_ms / byol total_ms, so > 1 means byol is faster. Values missing
on either side print "-". Lines that are not JSON objects are ignored.
"""
import json
import sys

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


def table(rows):
    """Aligned lines: name left-aligned, numbers right-aligned."""
    rows = [COLUMNS] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
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
    if len(sys.argv) != 3:
        sys.exit("usage: report.py BYOL.jsonl TORCH.jsonl")
    print("\n".join(report(read_records(sys.argv[1]), read_records(sys.argv[2]))))


if __name__ == "__main__":
    main()
