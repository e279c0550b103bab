#!/usr/bin/env python3
"""Markdown tables from bench/run.sh results.

usage: report.py RESULTS.tsv [CHECKS.tsv]

One table per case: per tool, the number of runs, median / min / max wall
seconds, rows/s at the median, the ratio of its median to the median of the
case's reference (its first tool, the baseline pipe), the median of Ferry's
own duration_ms (process start-up and connection excluded), median client CPU
(user + sys of the whole process tree) and peak RSS (largest single process,
max over the runs). Failed runs are listed and left out of the timings.
"""
import csv
import statistics as st
import sys
from collections import OrderedDict

DESCR = {
    ("pg2pg", "copy_binary"): "psql COPY TO STDOUT (binary) | psql COPY FROM STDIN (binary)",
    ("pg2pg", "ferry_p1"): "ferry run, postgres -> postgres, parallelism 1",
    ("pg2pg", "ferry_p2"): "ferry run, postgres -> postgres, parallelism 2",
    ("pg2my", "csv_fifo"): "psql COPY (csv) -> FIFO -> mariadb LOAD DATA LOCAL INFILE",
    ("pg2my", "ferry"): "ferry run, postgres -> mysql (MariaDB)",
    ("pg2sqlite", "sqlite3_csv"): "psql COPY (csv) | sqlite3 .import (one transaction)",
    ("pg2sqlite", "ferry"): "ferry run, postgres -> sqlite (fresh file)",
}


def fnum(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    checks = []
    if len(argv) > 1:
        with open(argv[1], newline="") as fh:
            checks = list(csv.DictReader(fh, delimiter="\t"))
    cases = OrderedDict()
    for r in rows:
        cases.setdefault(r["case"], OrderedDict()).setdefault(r["label"], []).append(r)
    for case, labs in cases.items():
        # reference = first label in round 1 order of labels_of(): the label
        # that ran first in round 1
        r1 = [r["label"] for r in rows if r["case"] == case and r["round"] == "1"]
        ref = r1[0] if r1 else next(iter(labs))
        good = {lab: [r for r in rs if r["check"] == "ok" and fnum(r["wall_s"]) is not None] for lab, rs in labs.items()}
        ref_med = st.median(float(r["wall_s"]) for r in good[ref]) if good.get(ref) else None
        nrows = int(next(iter(labs.values()))[0]["rows"])
        print(f"### {case} ({nrows:,} rows)")
        print()
        print("| tool | runs ok | median s | min s | max s | rows/s (median) | ratio of medians | ferry internal s | client CPU s | peak RSS MB |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for lab, rs in labs.items():
            g = good[lab]
            name = f"{lab}: {DESCR.get((case, lab), lab)}".replace("|", "\\|")
            if not g:
                print(f"| {name} | 0/{len(rs)} | — | — | — | — | — | — | — | — |")
                continue
            w = [float(r["wall_s"]) for r in g]
            med = st.median(w)
            if lab == ref:
                ratio = "1.00 (ref)"
            elif ref_med:
                ratio = f"{med / ref_med:.2f}"
            else:
                ratio = "—"
            fm = [float(r["ferry_ms"]) / 1000 for r in g if fnum(r["ferry_ms"]) is not None]
            ferry_s = f"{st.median(fm):.2f}" if fm else ""
            cpu = st.median(float(r["user_s"]) + float(r["sys_s"]) for r in g)
            rss = max(int(r["maxrss_kb"]) for r in g) / 1024
            print(f"| {name} | {len(g)}/{len(rs)} | {med:.2f} | {min(w):.2f} | {max(w):.2f} | "
                  f"{nrows / med:,.0f} | {ratio} | {ferry_s} | {cpu:.1f} | {rss:.0f} |")
        print()
        loads = [fnum(r.get("load1")) for rs in labs.values() for r in rs if fnum(r.get("load1")) is not None]
        if loads:
            print(f"- 1-min load average at the start of the runs: {min(loads):.2f}–{max(loads):.2f} "
                  f"(back-to-back runs alone keep it near 2 on these 2 cores; well above means other work competed)")
        bad = [r for rs in labs.values() for r in rs if r["check"] != "ok"]
        for r in bad:
            print(f"- FAILED run: {case}/{r['label']} round {r['round']}: {r['check']} {r['error']}".rstrip())
        for c in checks:
            if c["case"] == case:
                print(f"- content check {c['label']}: **{c['result']}** — {c['detail']}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
