"""Where the time of a reporting RPC goes: the national views against ``health()``.

    python -m bench.rpc_overhead [--participants 10000000] [--calls 300] [--answers 512]
                                 [--profile]

A small, quick micro-benchmark (issue 5), not the full-size benchmark of
``bench.reporting``: one scratch database and vhost; only the reporting service
starts (``nameko run``, as ``deploy.stack`` does); its read models are seeded with
``bench.reporting.seed_reporting`` at ``--participants`` (all provinces and
schemes are present at any size, so ``coverage()`` has its ~210 rows and
``target_progress`` its ~145: the row count per answer is what matters here, not
the totals). Then, over one warm ``ClusterRpcProxy``:

- each query ``--calls`` times, the queries interleaved round by round (so a
  change in the machine's load touches them all alike), after warm-up calls;
  p50/p99 and the ratio against ``health()``;
- the service's own handling time per method (``vss_rpc_seconds`` from its
  ``/metrics``, worker setup to worker result: the method, its SQL and Python),
  so that ``RPC - handling`` is the path outside the method: serialisation of the
  reply, the broker both ways and decoding in the client;
- in this process: the report's Python and SQL (``ReportingService.report``'s
  runners on a plain connection), the reply's JSON encoding as nameko does it
  (``nameko.rpc.Responder``) and its decoding as the client does it (kombu).

``--profile`` prints a cProfile of the in-process parts of one national call.
"""
import argparse
import cProfile
import datetime as dt
import io
import logging
import os
import pstats
import sys
import time
import urllib.request
import warnings

warnings.filterwarnings("ignore")
logging.getLogger("amqp").setLevel(logging.ERROR)

import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402

from bench.reporting import PLANNER, free_port, percentile, seed_reporting, start_all  # noqa: E402
from deploy.stack import ROOT  # noqa: E402
from shared.envelope import today_in  # noqa: E402


def query_list(today):
    year = today.year
    return [
        ("health()", "health", {}),
        ("coverage()", "coverage", {}),
        ("coverage(as_of=2025-06-30)", "coverage", {"as_of": "2025-06-30"}),
        ("coverage(province_code=42)", "coverage", {"province_code": "42"}),
        (f"target_progress({year})", "target_progress", {"year": year}),
        (f"benefits_summary({year})", "benefits_summary", {"period": str(year)}),
    ]


REPORT_OF = {"coverage": "coverage", "target_progress": "targets", "benefits_summary": "benefits"}
ARGUMENT_OF = {"period": "period", "year": "year", "as_of": "as_of", "province_code": "province_code"}


def start_reporting(dsn, amqp_uri, workdir, metrics_address, answers):
    return start_all(dsn, amqp_uri, workdir, names=["reporting"],
                     REPORTING_METRICS_ADDRESS=metrics_address, REPORTING_ANSWERS=str(answers))


def handling_seconds(metrics_address):
    """``{method: (sum, count)}`` of ``vss_rpc_seconds`` (outcome ok) from /metrics."""
    body = urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=5).read().decode()
    figures = {}
    for line in body.splitlines():
        for part, index in (("vss_rpc_seconds_sum{", 0), ("vss_rpc_seconds_count{", 1)):
            if line.startswith(part) and 'outcome="ok"' in line:
                method = line.split('method="', 1)[1].split('"', 1)[0]
                entry = figures.setdefault(method, [0.0, 0.0])
                entry[index] = float(line.rsplit(" ", 1)[1])
    return figures


def timed_rounds(rpc, queries, calls, warmup=5):
    """``{label: [seconds, ...]}``, ``{label: rows}``: the queries interleaved, ``calls`` rounds."""
    methods = [(label, getattr(rpc.reporting, name), kwargs) for label, name, kwargs in queries]
    rows = {}
    for label, method, kwargs in methods:
        for _ in range(warmup):
            result = method(**kwargs)
        rows[label] = len(result) if isinstance(result, list) else 1
    times = {label: [] for label, _, _ in methods}
    for _ in range(calls):
        for label, method, kwargs in methods:
            started = time.perf_counter()
            method(**kwargs)
            times[label].append(time.perf_counter() - started)
    return times, rows


def in_process(dsn, queries, repeat, profile_label=None):
    """``{label: {report, encode, decode, bytes}}``: medians in seconds, in this process."""
    import kombu.serialization
    from services.reporting import service
    conn = psycopg2.connect(dsn, options="-c search_path=reporting",
                            cursor_factory=psycopg2.extras.RealDictCursor)
    figures = {}
    for label, name, kwargs in queries:
        if name not in REPORT_OF:
            continue
        runner = service.REPORTS[REPORT_OF[name]]

        def report():
            with conn.cursor() as cur:
                rows = runner(cur, **kwargs)
            conn.commit()
            return rows

        def encode(result):
            # as nameko.rpc.Responder.send_response: a check, then the payload itself
            kombu.serialization.dumps(result, "json")
            return kombu.serialization.dumps({"result": result, "error": None}, "json")

        def decode(body):
            return kombu.serialization.loads(body[2], body[0], body[1])

        result = report()
        body = encode(result)
        spent = {"report": [], "encode": [], "decode": []}
        for _ in range(repeat):
            started = time.perf_counter()
            result = report()
            spent["report"].append(time.perf_counter() - started)
            started = time.perf_counter()
            body = encode(result)
            spent["encode"].append(time.perf_counter() - started)
            started = time.perf_counter()
            decode(body)
            spent["decode"].append(time.perf_counter() - started)
        figures[label] = {k: percentile(v, 50) for k, v in spent.items()}
        figures[label]["bytes"] = len(body[2])
        if label == profile_label:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(20):
                decode(encode(report()))
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
            print(f"--- cProfile, 20 x {label} in process (report + encode + decode), by own time")
            print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))
    conn.close()
    return figures


def ms(seconds):
    return f"{seconds * 1000:7.2f}"


def main():
    from deploy.scratch import scratch_environment
    from deploy.stack import stop_services
    from nameko.standalone.rpc import ClusterRpcProxy

    parser = argparse.ArgumentParser(prog="python -m bench.rpc_overhead")
    parser.add_argument("--participants", type=int, default=10_000_000,
                        help="the seed takes ~35 s at any size (one row per day, code, scheme)")
    parser.add_argument("--calls", type=int, default=300, help="calls per query")
    parser.add_argument("--repeat", type=int, default=50, help="in-process repetitions")
    parser.add_argument("--answers", type=int, default=512,
                        help="REPORTING_ANSWERS: answers reporting keeps (0: none, every call"
                             " reads and encodes its figures, as after each committed batch)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the in-process parts of target_progress")
    args = parser.parse_args()
    today = today_in()
    queries = query_list(today)
    workdir = ROOT / "var" / "bench-rpc-overhead"
    metrics_address = f"127.0.0.1:{free_port()}"
    print(f"[bench] {dt.datetime.now().isoformat(timespec='seconds')}  cores: {os.cpu_count()}"
          f"  load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with scratch_environment(prefix="vss_bench_rpc") as (dsn, amqp_uri):
        start_reporting(dsn, amqp_uri, workdir, metrics_address, args.answers)
        try:
            seconds, _ = seed_reporting(dsn, args.participants, today)
            print(f"[bench] seeded {args.participants:,} participants in {seconds:.1f} s", flush=True)
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60, context_data=PLANNER) as rpc:
                load = os.getloadavg()[0]
                before = handling_seconds(metrics_address)
                times, rows = timed_rounds(rpc, queries, args.calls)
                after = handling_seconds(metrics_address)
                load_after = os.getloadavg()[0]
        finally:
            stop_services(workdir / "run")
        local = in_process(dsn, queries, args.repeat,
                           f"target_progress({today.year})" if args.profile else None)

    handled = {}
    for label, name, _ in queries:
        s1, n1 = before.get(name, (0.0, 0.0))
        s2, n2 = after.get(name, (0.0, 0.0))
        handled.setdefault(name, (s2 - s1) / max(n2 - n1, 1))
    h50, h99 = percentile(times["health()"], 50), percentile(times["health()"], 99)
    print()
    print(f"reporting RPC micro-benchmark  {today}  cores {os.cpu_count()}  participants seeded"
          f" {args.participants:,}  {args.calls} calls per query, interleaved  answers kept"
          f" {args.answers}  load {load:.2f}"
          f" -> {load_after:.2f}")
    print(f"{'query':32} {'rows':>4} {'p50':>7} {'p99':>7} {'x h p50':>7} {'x h p99':>7}"
          f" {'handle*':>7} {'in-proc':>7} {'encode':>7} {'decode':>7} {'bytes':>7}   (ms)")
    for label, name, _ in queries:
        p50, p99 = percentile(times[label], 50), percentile(times[label], 99)
        extra = local.get(label)
        tail = (f" {ms(extra['report'])} {ms(extra['encode'])} {ms(extra['decode'])}"
                f" {extra['bytes']:7d}") if extra else ""
        print(f"{label:32} {rows[label]:4d} {ms(p50)} {ms(p99)} {p50 / h50:7.2f} {p99 / h99:7.2f}"
              f" {ms(handled[name])}{tail}")
    print("handle*: mean service-side handling time (vss_rpc_seconds, worker setup to result,"
          " same calls); in-proc/encode/decode: medians in this process (encode as nameko's"
          " Responder does it, decode as kombu in the client)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
