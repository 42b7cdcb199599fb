import sys

try:
    from danube_metrics.cli import main
except ImportError as exc:
    if exc.name != "danube_metrics._native":
        raise
    # The C core is missing (a clone's source tree, or a broken install): one line that says
    # what to do, not a traceback.
    print(f"danube-metrics: error: {exc}", file=sys.stderr)
    sys.exit(1)

sys.exit(main())
