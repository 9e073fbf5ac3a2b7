"""Checks MergeStats and SplitStats against Locust's master.

Usage: pymerge.py A1.msgpack A2.msgpack ... -- B1.msgpack ...

Each file is one encoded "stats" message. The reports of group A and those
of group B are each fed through the master's own worker_report listener
(locust.stats.setup_distributed_stats_event_listeners); the resulting
tables must be equal. Prints "pymerge: equal" or the differences and exits
1; exits 3 when msgpack or locust cannot be imported.
"""
import sys

try:
    import locust.stats  # noqa: F401
    from pycompare import load, merged_tables
except ImportError as exc:
    print(f"SKIP: {exc}")
    sys.exit(3)


def main():
    args = sys.argv[1:]
    cut = args.index("--")
    tables = []
    for group in (args[:cut], args[cut + 1:]):
        tables.append(merged_tables([load(p)[1] for p in group]))
    (ea, ta, xa), (eb, tb, xb) = tables
    problems = []
    for k in sorted(set(ea) | set(eb), key=repr):
        if ea.get(k) != eb.get(k):
            problems.append(f"entry {k}: {ea.get(k)} != {eb.get(k)}")
    if ta != tb:
        problems.append(f"total: {ta} != {tb}")
    if xa != xb:
        problems.append(f"errors: {xa} != {xb}")
    for p in problems:
        print(p)
    print("pymerge: equal" if not problems else f"pymerge: {len(problems)} differences")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
