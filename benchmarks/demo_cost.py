"""What `make demo` costs on this machine: wall time, seconds per model, per attack family, disk.

Runs a bundled spec (default: `default`, what `make demo` runs) into a fresh
temporary directory (so nothing is resumed) exactly as `make demo` does — `fpbench
run` then `fpbench report` — and reads the manifest for training time per
architecture and per attack family, and the fingerprints for generation time per
method. `--pack 1 4` runs it once per pack size and ends with the ratio; `--workers`
sets the worker processes (default: every core). Usage:

    .venv/bin/python benchmarks/demo_cost.py [SPEC] [--pack K ...] [--workers N]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def generation_seconds(out: Path) -> pl.DataFrame:
    rows = []
    for sidecar in sorted((out / "store" / "fingerprints").glob("*.json")):
        meta = json.loads(sidecar.read_text())["meta"]
        rows.append({"method": meta.get("label"), "generation_s": round(meta.get("generation_seconds", 0.0), 1),
                     "owner_models": len(meta.get("owner_models", []))})
    return pl.DataFrame(rows).sort("generation_s", descending=True)


def one_run(spec: str, pack: int | None, workers: int | None) -> float:
    """Run and report the spec once; print its breakdown; return the wall seconds of both commands."""
    fpbench = Path(sys.executable).with_name("fpbench")
    flags = [*(["--pack", str(pack)] if pack else []), *(["--workers", str(workers)] if workers else [])]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        started = time.perf_counter()
        subprocess.run([str(fpbench), "run", spec, "--out", str(out), "--quiet", *flags], check=True,
                       capture_output=True)
        run_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = subprocess.run([str(fpbench), "report", str(out)], check=True, capture_output=True, text=True)
        report_seconds = time.perf_counter() - started
        models = pl.read_parquet(out / "models.parquet")
        trained = sorted((out / "store" / "models").glob("*.json"))
        print(f"== spec {spec}, pack {pack or 'default'}, workers {workers or 'every core'}")
        print(f"fpbench run: {run_seconds:.1f} s; fpbench report: {report_seconds:.1f} s; "
              f"together {run_seconds + report_seconds:.1f} s")
        print(f"models in the manifest: {models.height}; models trained (incl. intermediates): {len(trained)}; "
              f"wall seconds per trained model: {run_seconds / len(trained):.2f}")
        print(f"packed: {models.filter(pl.col('pack_size') > 1).height} models in "
              f"{models['pack_id'].drop_nulls().n_unique()} packs")
        with pl.Config(tbl_rows=60, tbl_width_chars=120):
            print(models.group_by("arch").agg(pl.len().alias("models"), pl.col("train_seconds").mean().round(2))
                  .sort("arch"))
            print(models.group_by("lineage", "attack")
                  .agg(pl.len().alias("models"), pl.col("train_seconds").sum().round(1).alias("total_s"),
                       pl.col("train_seconds").mean().round(2).alias("mean_s"))
                  .sort("lineage", "attack"))
            print(generation_seconds(out))
        print(f"results directory: {directory_bytes(out) / 1e6:.2f} MB "
              f"(store {directory_bytes(out / 'store') / 1e6:.2f} MB, "
              f"queries {directory_bytes(out / 'queries') / 1e6:.2f} MB)")
        print("first lines of the terminal report's verdict:")
        verdict = report.stdout[report.stdout.find("Which method wins"):].splitlines()
        print("\n".join(verdict[:9]))
        return run_seconds + report_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="default")
    parser.add_argument("--pack", type=int, nargs="*", default=[0], help="pack sizes to compare (0: the default)")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    seconds = {pack: one_run(args.spec, pack or None, args.workers or None) for pack in args.pack}
    if len(seconds) > 1:
        base = seconds[args.pack[0]]
        print("wall time by pack size: " + ", ".join(
            f"pack {p or 'default'}: {s:.1f} s ({base / s:.2f}x)" for p, s in seconds.items()))


if __name__ == "__main__":
    main()
