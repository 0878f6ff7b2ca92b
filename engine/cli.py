"""`fpbench` command line: run, status, report, compare, check, verify, list.

Exit codes: 0 success, 2 bad input (spec, run directory, model file), 3 the run
finished but some jobs failed (listed in failures.parquet), 1 anything else.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)
MAX_COUNT = 10**6  # --min-count: more positives than any zoo holds would flag every cell
MAX_RESAMPLES = 100_000  # --resamples: past this the CIs stop moving and the report takes hours


def _error(err: BaseException | str) -> None:
    """Print a bad-input message; escaped, since it may quote user text such as '[/]'."""
    console.print(f"[bold red]error:[/] {escape(str(err))}", emoji=False, highlight=False)


def prepare_run(args):
    """The spec of `fpbench run`, with everything checked before anything is trained or written:
    the spec itself, the device and the data set (local executor), and the output directory."""
    from engine.config import SpecError, load_spec
    from engine.fs import Location
    from engine.provenance import check_output

    spec = load_spec(args.spec)
    chosen = {key: value for key, value in (("workers", args.workers), ("pack", args.pack)) if value is not None}
    spec = replace(spec, executor_options={**spec.executor_options, **chosen})
    if (args.executor or spec.executor) == "local":  # on Ray, each node resolves its own device and data
        import torch

        if spec.device == "cuda" and not torch.cuda.is_available():
            raise SpecError("executor.device", "is 'cuda' but torch sees no GPU on this machine "
                                               "(torch.cuda.is_available() is False); use 'auto' or 'cpu'")
        from zoo.datasets import load_splits

        load_splits(spec.dataset, spec.dataset_root)  # cached: an in-process worker reuses it
    check_output(Location(args.out or spec.output))
    return spec


def _cmd_run(args) -> int:
    from engine.run import run_spec
    from reports.load import load_run
    from reports.metrics import compute_metrics
    from reports.suspects import run_scales
    from reports.table import print_metrics, print_winners

    spec = prepare_run(args)
    result = run_spec(spec, out=args.out, show_progress=not args.quiet, executor=args.executor, address=args.address)
    events, where = result.events, escape(str(result.run_dir))
    if result.stale_lock:
        held = result.stale_lock
        console.print(escape(f"took over the lock of pid {held['pid']} on {held['host']} (since {held['started']}): "
                             "that driver is gone"))
    for damage in result.repaired:
        console.print(escape(f"damaged, rebuilt: {damage.path} ({damage.reason})"))
    console.print(
        f"[bold]{where}[/]: trained {events.get('trained', 0)} models, "
        f"computed {events.get('fingerprinted', 0)} fingerprints, wrote {result.queries_run} query shards"
    )
    if result.failures:
        console.print(f"[bold red]{len(result.failures)} job(s) failed[/] (see {where}/failures.parquet):")
        for failure in result.failures[:10]:
            what = failure.method or (failure.model_id or "")[:70]
            console.print(escape(f"  {failure.job} {what}: {failure.error}"))
    if result.summary:
        from engine.summary import summary_lines

        Console().print("\n".join(summary_lines(result.summary)), markup=False, highlight=False, soft_wrap=True)
    try:  # a run at a URI is summarised from a local mirror of its tables
        tables = load_run(_local_run(str(result.run_dir), None))
    except ValueError as err:
        console.print(f"results are at {where}; no summary: {escape(str(err))}")
        return 3 if result.failures else 0
    metrics = compute_metrics(tables.scores, tables.models, tables.run_id, resamples=0, scales=run_scales(tables.info))
    print_metrics(metrics, Console())
    print_winners(metrics, Console(), tables.dataset)
    console.print(f"full report: fpbench report {where}")
    return 3 if result.failures else 0


def _local_run(where: str, mirror: str | None) -> Path:
    """A run directory to read: `where` itself, or a local mirror of a run at a URI."""
    from engine.mirror import default_mirror, is_uri, mirror_run

    if not is_uri(where):
        return Path(where)
    local = mirror_run(where, mirror or default_mirror(where))
    console.print(escape(f"mirrored the result tables of {where} into {local}"))
    return local


def _cmd_report(args) -> int:
    import polars as pl

    from engine.mirror import is_uri, upload_report
    from engine.provenance import check_output_dir
    from reports import build_report
    from reports.table import print_metrics, print_winners

    run_dir = None
    try:
        if args.out:
            check_output_dir(args.out)
        run_dir = _local_run(args.run_dir, args.local)
        report = build_report(run_dir, out_dir=args.out, min_count=args.min_count, resamples=args.resamples)
    except ValueError as err:  # not a run directory, or an unusable run.json / table
        _error(err)
        return 2
    except pl.exceptions.PolarsError as err:  # a table whose footer reads but whose data does not
        return _unreadable([run_dir], err)
    print_metrics(report.metrics, Console())
    print_winners(report.metrics, Console(), report.dataset)
    for warning in report.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}")
    console.print(escape(f"wrote {report.html_path}, {report.markdown_path.name} and Parquet exports in {report.out_dir}"))
    if is_uri(args.run_dir) and args.out is None:
        console.print(escape(f"and copied them to {upload_report(report.out_dir, args.run_dir)}"))
    return 0


def _cmd_compare(args) -> int:
    import polars as pl

    from engine.provenance import check_output_dir
    from reports.compare import compare_difference, compare_runs, print_comparison

    run_dirs = []
    try:
        if args.out:  # a Parquet file: its folder must take it, and it must not be a folder itself
            if Path(args.out).is_dir():
                raise ValueError(f"--out {args.out} is a directory; give a file name such as compare.parquet")
            check_output_dir(Path(args.out).parent)
        run_dirs = [_local_run(where, None) for where in args.run_dirs]
        compared = compare_runs(run_dirs, min_count=args.min_count, resamples=args.resamples)
        difference = compare_difference(*run_dirs) if len(run_dirs) == 2 else None
    except ValueError as err:
        _error(err)
        return 2
    except pl.exceptions.PolarsError as err:
        return _unreadable(run_dirs, err)
    print_comparison(compared, Console(), difference)
    if args.out:
        from reports._atomic import atomic_path

        with atomic_path(args.out) as tmp:
            compared.write_parquet(tmp)
        console.print(escape(f"wrote {args.out}"))
    return 0


def _unreadable(run_dirs: list, err: Exception) -> int:
    """Exit 2 naming the Parquet file that made Polars fail; re-raise when no file is to blame."""
    from reports.load import find_unreadable_parquet

    for run_dir in run_dirs:
        culprit = find_unreadable_parquet(run_dir) if run_dir is not None else None
        if culprit:
            _error(culprit)
            return 2
    raise err


DAMAGED = 4  # `fpbench check`: the run directory does not match its records


def _cmd_check(args) -> int:
    """Verify every file of a run against its record; exit DAMAGED listing what is not intact."""
    from engine.fs import Location
    from engine.integrity import check_run, repair

    run_dir = Location(args.run_dir)
    if not run_dir.exists("run.json") and not run_dir.exists("store"):
        _error(f"{args.run_dir} is not a run directory (no run.json)")
        return 2
    damages, out = check_run(run_dir), Console()
    if not damages:
        out.print(f"{escape(args.run_dir)}: intact")
        return 0
    for damage in damages:
        fix = "cleared: the next run rebuilds it" if args.repair and damage.clear else (
            "not repairable" if not damage.clear else "damaged")
        out.print(escape(f"{damage.path}: {damage.reason} [{fix}]"), soft_wrap=True)
    if args.repair:
        repair(run_dir, damages)
    out.print(f"{len(damages)} damaged file(s) in {escape(args.run_dir)}"
                  + ("" if args.repair else "; `fpbench check --repair` clears them for the next run to rebuild"))
    return DAMAGED


def _cmd_status(args) -> int:
    """How far a run is, from its files alone; --watch repeats until it ends (or Ctrl-C)."""
    import time

    from engine.status import run_status, status_lines

    out = Console()
    try:
        while True:
            try:
                status = run_status(args.run_dir)
            except (ValueError, OSError) as err:  # not a run directory, an unknown URI scheme, unreadable
                _error(err)
                return 2
            if args.watch and out.is_terminal:
                out.clear()
            out.print("\n".join(status_lines(status)), markup=False, highlight=False, soft_wrap=True)
            if not args.watch or status.state in ("finished", "stopped"):
                return 0
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


def _cmd_plan(args) -> int:
    from engine.config import SpecError
    from engine.plan_size import print_plan_size

    try:
        return print_plan_size(args.spec, args.pack)
    except (SpecError, ValueError) as err:
        _error(err)
        return 2


def _cmd_verify(args) -> int:
    """One model against a run's fingerprint and calibrated threshold; --json for scripts."""
    import json

    from engine.foreign import SuspectError
    from engine.verify import verdict_lines, verify

    try:
        verdict = verify(_local_run(args.run_dir, None), args.method, args.suspect, args.arch, args.returns, args.fpr)
    except (ValueError, SuspectError, OSError) as err:
        _error(err)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(verdict.as_dict(), sort_keys=True) + "\n")
    else:
        Console().print("\n".join(verdict_lines(verdict)), markup=False, highlight=False, soft_wrap=True)
    return 0


def _cmd_list(args) -> int:
    from engine.listing import WHAT, as_json, print_tables

    chosen = (args.what,) if args.what else WHAT
    if args.json:
        sys.stdout.write(as_json(chosen) + "\n")
    else:
        print_tables(chosen, Console())
    return 0


def _count(low: int, high: int):
    """An argparse type: an integer from `low` to `high`."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]{1,12}", text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high}, got {text!r}")
        return int(text)

    return parse


def _seconds(text: str) -> float:
    """An argparse type: a refresh interval from 1 s to a day."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1.0 <= value <= 86400.0:
        raise argparse.ArgumentTypeError(f"expected seconds from 1 to 86400, got {text!r}")
    return value


def _address(text: str) -> str:
    from engine.config import _ADDRESS, ADDRESS_RULE

    if not _ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected {ADDRESS_RULE}, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fpbench", description="Benchmark DNN ownership verification methods against stolen-model attacks.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="build the zoo, fingerprint, query; resumes a finished or killed run",
                         description="Run a benchmark spec (a TOML file or a bundled spec name, see `fpbench list presets`).")
    run.add_argument("spec", help="path to a spec TOML, or a bundled spec name such as 'default' or 'quick'")
    run.add_argument("--out", help="run directory (default: the spec's `output`, else results/<name>)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--executor", choices=["local", "ray"], help="override the spec's executor.kind")
    run.add_argument("--address", type=_address, help="Ray cluster address for --executor ray: 'auto' or HOST:PORT "
                                       "(default: the spec's executor.address, else a local Ray instance)")
    run.add_argument("--workers", type=_count(1, 1024), help="override executor.workers: worker processes "
                                                        "(local) or actors (ray); default every core")
    run.add_argument("--pack", type=_count(1, 4096), help="override executor.pack: sibling models trained as one "
                                                     "network (1 = each alone; default 4 on CPU, 64 on a GPU)")
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="metrics, RU curves and Parquet exports of a run directory",
                            description="Reduce a run directory to ARUC/AUC per method and attack; writes RUN_DIR/report/.")
    report.add_argument("run_dir", help="a run directory, or a run's URI (s3://, gs://, file://, ...)")
    report.add_argument("--out", help="where to write the report (default RUN_DIR/report; for a URI, the "
                                      "mirror's report/, also copied to URI/report)")
    report.add_argument("--local", help="for a URI: where to mirror its result tables "
                                        "(default results/remote/<last part of the URI>)")
    report.add_argument("--min-count", type=_count(1, MAX_COUNT), default=3,
                        help="flag cells with fewer positives or negatives than this")
    report.add_argument("--resamples", type=_count(0, MAX_RESAMPLES), default=1000, help="bootstrap resamples for the 95%% CIs (0: none)")
    report.set_defaults(func=_cmd_report)

    compare = sub.add_parser("compare", help="put the metrics of several run directories side by side",
                             description="Recompute every run's metrics with the same settings and print them side by side.")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories or URIs")
    compare.add_argument("--out", help="also write the stacked metrics (a `run` column added) to this Parquet file")
    compare.add_argument("--min-count", type=_count(1, MAX_COUNT), default=3,
                         help="flag cells with fewer positives or negatives than this")
    compare.add_argument("--resamples", type=_count(0, MAX_RESAMPLES), default=1000, help="bootstrap resamples for the 95%% CIs (0: none)")
    compare.set_defaults(func=_cmd_compare)

    check = sub.add_parser("check", help="verify every file of a run directory against its checksums",
                           description="Exit 0 if the run directory is intact, 4 listing its damaged files if not.")
    check.add_argument("run_dir", help="a local run directory")
    check.add_argument("--repair", action="store_true", help="delete the damaged files so the next run rebuilds them")
    check.set_defaults(func=_cmd_check)

    status = sub.add_parser("status", help="how far a run is: done/total, failures, workers, ETA (from its files)",
                            description="Report a run's progress from its directory alone (never from its driver): "
                                        "done/total per kind of job, failures so far, workers seen recently, ETA.")
    status.add_argument("run_dir", help="a run directory, or a run's URI (s3://, gs://, file://, ...)")
    status.add_argument("--watch", type=_seconds, nargs="?", const=10.0, metavar="SECONDS",
                        help="refresh every SECONDS (default 10) until the run ends; Ctrl-C stops")
    status.set_defaults(func=_cmd_status)

    planner = sub.add_parser("plan", help="how big a spec's run is: models, jobs, queries, packs (runs nothing)")
    planner.add_argument("spec", help="path to a spec TOML, or a bundled spec name")
    planner.add_argument("--pack", type=_count(1, 4096), help="sibling models per pack (default: executor.pack, else 4)")
    planner.set_defaults(func=_cmd_plan)

    verifier = sub.add_parser("verify", help="is this one model a copy? score it with a run's fingerprint",
                              description="Score one suspect (a .safetensors weights file with --arch, an .onnx "
                                          "model, or an http(s):// prediction API) with a finished run's stored "
                                          "fingerprint, against the threshold the run calibrated. Nothing retrains.")
    verifier.add_argument("run_dir", help="a finished run directory (or its URI)")
    verifier.add_argument("--method", required=True, help="the method's label in the run (its `method` column)")
    verifier.add_argument("--suspect", required=True, metavar="FILE|URL", help="the model to judge")
    verifier.add_argument("--arch", help="the architecture of a .safetensors suspect (fpbench list archs)")
    verifier.add_argument("--returns", choices=["logits", "labels"], default="logits",
                          help="what an HTTP suspect answers (default logits)")
    verifier.add_argument("--fpr", type=float, choices=[0.01, 0.05], default=0.05,
                          help="the false-positive rate the threshold was calibrated for (default 0.05)")
    verifier.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    verifier.set_defaults(func=_cmd_verify)

    lister = sub.add_parser("list", help="list registered methods, attacks, architectures, data sets or bundled specs",
                            description="List what a spec may name (everything when WHAT is left out).")
    lister.add_argument("what", nargs="?", choices=["methods", "attacks", "archs", "datasets", "presets"])
    lister.add_argument("--json", action="store_true", help="one JSON object keyed by registry, for scripts")
    lister.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from engine.config import SpecError
    from engine.fs import WriteFailed
    from engine.lock import RunLocked
    from engine.provenance import RunDirError
    from engine.safe_files import UnsafeFileError
    from engine.store import UntrustedFileError
    from zoo.datasets import DatasetError

    try:
        return args.func(args)
    except (SpecError, RunDirError, RunLocked, UnsafeFileError, UntrustedFileError, DatasetError) as err:
        _error(err)
        return 2
    except WriteFailed as err:  # a full disk or a read-only mount: what was written before stays valid
        _error(err)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted; run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
