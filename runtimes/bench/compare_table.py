#!/usr/bin/env python3
"""compare_table.py - one Markdown table, a column per server, from thinftp-bench JSON files.

    python3 compare_table.py OUT/*.json

Used by compare.sh. Each cell is the median of the runs in that file; "-" where a server did not
run the test (or failed every run).
"""
import json
import sys

ORDER = ["thinftp-smol", "thinftp-std", "vsftpd", "pure-ftpd", "proftpd", "pyftpdlib",
         "pyftpdlib-threaded"]


def med(res, test, *path):
    v = res.get(test, {}).get("median", {})
    for p in path:
        if not isinstance(v, dict) or p not in v:
            return None
        v = v[p]
    return v


def fmt(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def rows_for(res):
    def mem(test, key):
        return med(res, test, "memory", "peak", key)

    def kib_to_mib(v):
        return None if v is None else v / 1024

    rows = [
        ("RETR 1 GiB, MB/s", fmt(med(res, "retr", "mb_s"))),
        ("STOR 1 GiB, MB/s", fmt(med(res, "stor", "mb_s"))),
        ("NOOP/s sequential", fmt(med(res, "noop", "seq_ops_s"))),
        ("NOOP/s pipelined (64)", fmt(med(res, "noop", "pipe_ops_s"))),
        ("SIZE/s sequential", fmt(med(res, "size", "seq_ops_s"))),
        ("SIZE/s pipelined (64)", fmt(med(res, "size", "pipe_ops_s"))),
        ("logins/s sequential", fmt(med(res, "login", "seq_per_s"))),
        ("logins/s 8 parallel", fmt(med(res, "login", "par_per_s"))),
    ]
    for cmd in ("LIST", "NLST", "MLSD"):
        u = med(res, "list", cmd, "unsupported")
        rows.append((f"{cmd} 10,000 files, ms",
                     "unsupported" if u is not None else fmt(med(res, "list", cmd, "ms"), 1)))
    for n in (200, 1000):
        t = f"conc_{n}"
        rows.append((f"{n} sessions burst: wall s", fmt(med(res, t, "wall_s"), 2)))
        rows.append((f"{n} sessions burst: MB/s", fmt(med(res, t, "agg_mb_s"))))
        rows.append((f"{n} sessions burst: failed", fmt(med(res, t, "failed"))))
        rows.append((f"{n} sessions: peak PSS MiB", fmt(kib_to_mib(mem(t, "pss_kb")), 1)))
    for n in (1000, 10000):
        t = f"idle_{n}"
        li = med(res, t, "logged_in")
        rows.append((f"{n} idle: logged in", fmt(li)))
        rows.append((f"{n} idle: RSS MiB", fmt(med(res, t, "rss_mib"), 1)))
    return rows


def main():
    cols = {}
    ceiling = []
    for path in sys.argv[1:]:
        with open(path) as f:
            d = json.load(f)
        if "end" in d and "sum_received" in d.get("end", {}):  # iperf3 -J output
            mode = "-Z (sendfile)" if "zerocopy" in path else "plain"
            mb_s = d["end"]["sum_received"]["bits_per_second"] / 8 / 1e6
            ceiling.append(f"iperf3 {mode} single stream: {mb_s:,.0f} MB/s")
            continue
        cols[d.get("label") or path] = (rows_for(d.get("results", {})), d.get("runs"))
    names = sorted(cols, key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
    if not names:
        print("no results")
        return
    print("| test | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    labels = [r[0] for r in cols[names[0]][0]]
    for i, label in enumerate(labels):
        cells = [cols[n][0][i][1] for n in names]
        if all(c == "-" for c in cells):
            continue
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    for line in ceiling:
        print(f"- loopback ceiling, {line}")
    print("- runs per figure (median): " + ", ".join(f"{n} {cols[n][1]}" for n in names))


if __name__ == "__main__":
    main()
