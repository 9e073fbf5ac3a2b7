#!/usr/bin/python3
"""Compare Python's view of captured message bodies with Go's re-encodings.

Used by TestPythonDecodesReencodedCaptures (python_test.go). Usage:

    pycompare.py MANIFEST

MANIFEST has one line per pair: "<original>\t<reencoded>\t<group>"; a
pair may name the same file twice (Go's golden encodings), which checks that
Python decodes it and, for stats, that the master's merge accepts it. Both
files are decoded exactly as Locust does (msgpack.loads(raw=False,
strict_map_key=False)) and compared structurally, allowing only the
normalizations documented in helpers_test.go:

  * a float field sent as an int by Python comes back as an equal float;
  * a float histogram key (Locust 2.12: 250.0) comes back as the int 250;
  * method None comes back as "";
  * stop_timeout None comes back as 0.0;
  * client_ready "" comes back as -1.

Numbers must keep their Python type elsewhere (bool is not int here), and
str must stay str (never bytes).

When Locust itself is importable, every "stats" body of a group (one capture
folder) is also fed, in order, through the master's own merge code (the
worker_report listener of locust.stats.setup_distributed_stats_event_listeners)
once with the originals and once with the re-encodings; the merged tables
(counts, min/avg/max, median and percentiles, per-second counters, errors)
must be identical.

Prints one line per problem, then "pycompare: N pairs, M problems". Exit
status: 0 when all pairs match, 1 otherwise, 3 when msgpack is missing.
"""

import sys

try:
    import msgpack
except ImportError as exc:  # pragma: no cover
    print(f"SKIP: msgpack not importable: {exc}")
    sys.exit(3)

FLOAT_FIELDS = {
    "total_response_time", "max_response_time", "min_response_time",
    "start_time", "last_request_timestamp", "current_cpu_usage",
    "timestamp", "stop_timeout", "first_seen", "last_seen",
}
INT_KEYED_FIELDS = {"response_times", "num_reqs_per_sec", "num_fail_per_sec"}


def load(path):
    with open(path, "rb") as f:
        return msgpack.loads(f.read(), raw=False, strict_map_key=False)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare(path, key, want, got, problems):
    if isinstance(want, dict):
        if not isinstance(got, dict):
            problems.append(f"{path}: want dict, got {type(got).__name__}")
            return
        got_keys = {k: k for k in got}  # maps an equal key to got's own key object
        for k, v in want.items():
            if k not in got:
                problems.append(f"{path}: key {k!r} lost")
                continue
            gk = got_keys[k]
            if type(gk) is not type(k):
                if not (key in INT_KEYED_FIELDS and isinstance(k, float) and isinstance(gk, int)):
                    problems.append(f"{path}: key {k!r} changed type to {type(gk).__name__}")
            if key in INT_KEYED_FIELDS and not isinstance(gk, int):
                problems.append(f"{path}: key {gk!r} is not an int")
            compare(f"{path}.{k}", k if isinstance(k, str) else "", v, got[k], problems)
        for k in got:
            if k not in want:
                problems.append(f"{path}: key {k!r} added")
        return
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            problems.append(f"{path}: want list of {len(want)}, got {got!r}")
            return
        for i, (w, g) in enumerate(zip(want, got)):
            compare(f"{path}[{i}]", "", w, g, problems)
        return
    if type(want) is type(got) and want == got:
        return
    if is_number(want) and is_number(got) and want == got and key in FLOAT_FIELDS and isinstance(got, float):
        return  # int -> float in a float field
    if key == "method" and want is None and got == "":
        return
    if key == "stop_timeout" and want is None and got == 0.0 and isinstance(got, float):
        return
    problems.append(f"{path}: want {want!r} ({type(want).__name__}), got {got!r} ({type(got).__name__})")


def compare_envelope(want, got, problems):
    if not (isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)) and len(want) == 3 and len(got) == 3):
        problems.append(f"envelope: shape differs: {want!r} vs {got!r}")
        return
    compare("type", "", want[0], got[0], problems)
    compare("node_id", "", want[2], got[2], problems)
    if not isinstance(got[0], str) or not isinstance(got[2], str):
        problems.append("envelope: type and node_id must be str")
    if want[0] == "client_ready" and want[1] == "" and got[1] == -1:
        return  # "" -> -1
    compare("data", "", want[1], got[1], problems)


def merged_tables(reports):
    """Runs the master's worker_report merge over reports; returns a summary."""
    from locust.event import Events
    from locust.stats import RequestStats, setup_distributed_stats_event_listeners

    events = Events()
    stats = RequestStats()
    setup_distributed_stats_event_listeners(events, stats)
    for data in reports:
        events.worker_report.fire(client_id="w", data=data)
    percentiles = [0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1.0]

    def entry_summary(e):
        return (
            e.num_requests, e.num_none_requests, e.num_failures,
            e.total_response_time, e.min_response_time, e.max_response_time,
            e.avg_response_time, e.median_response_time,
            tuple(e.get_response_time_percentile(p) for p in percentiles) if e.num_requests else (),
            e.total_content_length, e.start_time, e.last_request_timestamp,
            sorted(e.response_times.items()), sorted(e.num_reqs_per_sec.items()),
            sorted(e.num_fail_per_sec.items()),
        )

    entries = {k: entry_summary(e) for k, e in stats.entries.items()}
    errors = {k: (e.method, e.name, e.error, e.occurrences) for k, e in stats.errors.items()}
    return entries, entry_summary(stats.total), errors


def main():
    pairs = []
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                pairs.append(line.split("\t"))
    problems = []
    groups = {}
    for orig, reenc, group in pairs:
        p = []
        try:
            want, got = load(orig), load(reenc)
        except Exception as exc:  # decode failure is a problem, not a crash
            problems.append(f"{orig}: cannot decode: {exc!r}")
            continue
        compare_envelope(want, got, p)
        problems.extend(f"{orig}: {x}" for x in p)
        if want[0] == "stats":
            groups.setdefault(group, ([], []))
            groups[group][0].append(want[1])
            groups[group][1].append(got[1])

    merged = 0
    try:
        import locust.stats  # noqa: F401
    except Exception as exc:
        print(f"note: locust not importable ({exc!r}); skipped the master merge check")
    else:
        for group, (originals, reencoded) in sorted(groups.items()):
            try:
                a, b = merged_tables(originals), merged_tables(reencoded)
            except Exception as exc:
                problems.append(f"{group}: master merge raised {exc!r}")
                continue
            merged += 1
            if a != b:
                problems.append(f"{group}: master merge differs:\n  original   {a!r}\n  re-encoded {b!r}")

    for x in problems:
        print(x)
    print(f"pycompare: {len(pairs)} pairs, {merged} merge groups, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
