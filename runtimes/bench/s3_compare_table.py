#!/usr/bin/env python3
"""s3_compare_table.py - the Markdown tables of s3_compare.sh, from its result directory.

    python3 s3_compare_table.py OUT

Reads OUT/NAME.roundK.json (thinftp-bench --runs 1 per round), OUT/NAME.firstK.json (the
round's first listing, --list-reps 1, right after the start) and OUT/NAME.mem.json (memory
during one STOR on S3). Each cell is the median over the rounds; then the ratios of thinftp on S3
to rclone on S3 and to thinftp on local disk (> 1 means thinftp on S3 is faster).
"""
import glob
import json
import os
import statistics
import sys

from compare_table import fmt, med

ORDER = ["thinftp-smol-s3", "thinftp-std-s3", "rclone-s3", "proftpd-rclone-s3", "thinftp-smol-local",
         "thinftp-std-local"]

# (row label, test, path in the results, digits, higher is better)
ROWS = [
    ("RETR big object, MB/s", "retr", ("mb_s",), 0, True),
    ("STOR big object, MB/s", "stor", ("mb_s",), 0, True),
    ("LIST 10,000, ms (median of the reps)", "list", ("LIST", "ms"), 1, False),
    ("LIST 10,000, ms (first after start)", "first", ("list", "median", "LIST", "ms"), 1, False),
    ("NLST 10,000, ms", "list", ("NLST", "ms"), 1, False),
    ("MLSD 10,000, ms", "list", ("MLSD", "ms"), 1, False),
]
CONC_ROWS = [
    ("sessions: wall s (login + small RETR each)", ("wall_s",), 2, False),
    ("sessions: login p50 ms", ("login_ms_p50",), 1, False),
    ("sessions: failed", ("failed",), 0, None),
]


def median_over(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def timed_out(res, test):
    """Whether a run of `test` ended by the bench's socket timeout (--io-timeout, 30 s)."""
    runs = res.get(test, {}).get("median", {}) if test == "first" else res.get(test, {})
    if test == "first":
        runs = runs.get("list", {})
    return any("timed out" in str(r.get("error", "")) for r in runs.get("runs", []))


def load(out):
    rounds, memory, conc = {}, {}, set()
    for path in sorted(glob.glob(os.path.join(out, "*.round*.json"))):
        with open(path) as f:
            d = json.load(f)
        res = d.get("results", {})
        first = path.replace(".round", ".first")
        if os.path.exists(first):
            with open(first) as f:
                res = dict(res, first={"median": json.load(f).get("results", {})})
        rounds.setdefault(d.get("label") or path, []).append(res)
        conc.update(k for k in res if k.startswith("conc_"))
    for path in glob.glob(os.path.join(out, "*.mem.json")):
        with open(path) as f:
            d = json.load(f)
        memory[d["label"]] = d
    return rounds, memory, sorted(conc)


def main():
    rounds, memory, conc = load(sys.argv[1])
    names = sorted(rounds, key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
    if not names:
        print("no results")
        return
    rows = [(label, test, path, digits, better) for label, test, path, digits, better in ROWS]
    for test in conc:
        n = test.split("_", 1)[1]
        rows += [(f"{n} {label}", test, path, digits, better)
                 for label, path, digits, better in CONC_ROWS]
    cell = {}
    for name in names:
        for label, test, path, _, _ in rows:
            unsupported = test == "list" and any(
                med(r, test, path[0], "unsupported") is not None for r in rounds[name])
            cell[name, label] = "unsupported" if unsupported else median_over(
                [med(r, test, *path) for r in rounds[name]])
            if cell[name, label] is None and any(timed_out(r, test) for r in rounds[name]):
                cell[name, label] = "> 30 s (timed out)"
    print("| test | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, _, _, digits, _ in rows:
        print(f"| {label} | " + " | ".join(fmt(cell[n, label], digits) for n in names) + " |")
    kib = lambda v: None if not v else v / 1024  # noqa: E731
    for key, label in [("rss_before_kib", "RSS before STOR, MiB"),
                       ("rss_peak_kib", "RSS peak during STOR (0.1 s samples), MiB"),
                       ("hwm_kib", "VmHWM after STOR, MiB")]:
        if memory:
            print(f"| {label} | " + " | ".join(
                fmt(kib(memory.get(n, {}).get(key)), 1) for n in names) + " |")

    # Ratios: speed of thinftp on S3 over the other (times are inverted, so > 1 = faster).
    pairs = []
    for name in names:
        if name.startswith("thinftp-") and name.endswith("-s3"):
            base = name[: -len("-s3")]
            pairs += [(name, r) for r in ("rclone-s3", "proftpd-rclone-s3")]
            pairs.append((name, base + "-local"))
    pairs = [(a, b) for a, b in pairs if b in names]
    if not pairs:
        return
    print()
    print("| ratio (> 1: the first is faster) | " + " | ".join(f"{a} / {b}" for a, b in pairs)
          + " |")
    print("|---|" + "---:|" * len(pairs))
    for label, _, _, _, better in rows:
        if better is None:
            continue
        cells = []
        for a, b in pairs:
            x, y = cell[a, label], cell[b, label]
            if not isinstance(x, (int, float)) or not isinstance(y, (int, float)) or not x or not y:
                cells.append("-")
            else:
                cells.append(f"{(x / y) if better else (y / x):.2f}x")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print("- rounds: " + ", ".join(f"{n} {len(rounds[n])}" for n in names))


if __name__ == "__main__":
    main()
