"""Draw the benchmark's plots for the guide from bench/run.py's own output.

    python -m bench.plot bench/measured/*.medians.json            # what docs/img/ holds (make bench-plots)
    python -m bench.plot bench/results/20261130-155547 ...         # result directories of bench/run.py
    python -m bench.plot --out DIR FILE_OR_DIR ...

Each input is a `medians.json` (bench/run.py writes one into every result directory) or a result directory
that has one. Two PNGs are written (default: docs/img/):

- bench_time_per_method.png: median seconds of every method, one group of bars per dataset size, the
  min-max of the rounds as error bars;
- bench_seconds_per_gb.png: median seconds per GiB of data against the dataset size, one line per method
  (how the fixed cost of a run weighs less as databases grow).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["pgferry", "pgferry_cutover", "pgcopydb", "pgdump", "raw"]
SHORT = {"pgferry": "pgferry, whole run", "pgferry_cutover": "pgferry, ready for cutover",
         "pgcopydb": "pgcopydb clone (2/2 jobs)", "pgdump": "pg_dump -j2 | pg_restore -j2",
         "raw": "raw: 2 binary COPY pipes"}
COLORS = {"pgferry": "#1f4e79", "pgferry_cutover": "#5b9bd5", "pgcopydb": "#c55a11", "pgdump": "#7f7f7f",
          "raw": "#70ad47"}


def load(paths: list[str]) -> list[dict]:
    """The medians of each input, smallest dataset first."""
    found = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            path = path / "medians.json"
        if not path.is_file():
            raise SystemExit(f"{name}: no medians.json (bench/run.py writes one into each result directory)")
        found.append(json.loads(path.read_text()))
    return sorted(found, key=lambda m: m["db_mib"])


def plot(measurements: list[dict], out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    methods = [m for m in ORDER if any(m in x["methods"] for x in measurements)]
    sources = ", ".join(f"results/{x.get('results', '?')}" for x in measurements)
    dates = sorted({str(x.get("date", "?"))[:10] for x in measurements})
    caption = f"{' and '.join(dates)}, 2 cores, PostgreSQL 15, medians over the rounds ({sources})"
    written = []

    fig, ax = plt.subplots(figsize=(9, 4.6), dpi=110)
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        xs, ys, lo, hi = [], [], [], []
        for j, x in enumerate(measurements):
            m = x["methods"].get(method)
            if m is None:
                continue
            xs.append(j + (i - (len(methods) - 1) / 2) * width)
            ys.append(m["median_s"])
            lo.append(m["median_s"] - m.get("min_s", m["median_s"]))
            hi.append(m.get("max_s", m["median_s"]) - m["median_s"])
        bars = ax.bar(xs, ys, width * 0.95, yerr=[lo, hi], capsize=3, label=SHORT[method], color=COLORS[method])
        ax.bar_label(bars, labels=[f"{y:.0f}" for y in ys], padding=2, fontsize=8)
    ax.set_xticks(range(len(measurements)),
                  [f"{x['db_mib'] / 1024:.1f} GiB dataset ({x.get('rounds', '?')} rounds)" for x in measurements])
    ax.set_ylabel("seconds (median; bars: min-max)")
    ax.set_title("Full load into an empty database, by method")
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.text(0.01, 0.01, caption, fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = out / "bench_time_per_method.png"
    fig.savefig(path)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(9, 4.6), dpi=110)
    labelled: dict[float, list[float]] = {}   # per dataset size, the values labelled so far
    for method in methods:
        points = [(x["db_mib"] / 1024, x["methods"][method]["median_s"] / (x["db_mib"] / 1024))
                  for x in measurements if method in x["methods"]]
        gib = [p[0] for p in points]
        per_gib = [p[1] for p in points]
        ax.plot(gib, per_gib, marker="o", label=SHORT[method], color=COLORS[method])
        for g, s in points:
            here = labelled.setdefault(round(g, 2), [])
            near = any(abs(s - t) < 0.8 for t in here)
            here.append(s)
            # a value next to one labelled already at this size goes below its point, not over the other
            ax.annotate(f"{s:.1f}", (g, s), textcoords="offset points", xytext=(6, -11 if near else 3), fontsize=8)
    ax.set_xlabel("dataset size (GiB, pg_database_size of the source)")
    ax.set_ylabel("seconds per GiB (median)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.set_title("Seconds per GiB: a run's fixed cost weighs less as the database grows")
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.text(0.01, 0.01, caption + "; a method measured at one size only is a single point", fontsize=7,
             color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = out / "bench_seconds_per_gb.png"
    fig.savefig(path)
    plt.close(fig)
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="medians.json files or bench/results/<timestamp> directories")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="where the PNGs go (docs/img/)")
    args = parser.parse_args(argv)
    for path in plot(load(args.inputs), args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
