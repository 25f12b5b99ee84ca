"""The local stack's command line (make airflow, make stop); the stack itself is localstack.stack.

    python -m tools.stack start | stop | status | airflow
"""
from __future__ import annotations

import sys

from localstack import stack

USAGE = "usage: python -m tools.stack start|stop|status|airflow"


def main(argv: list[str] | None = None):
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "status"
    if cmd == "start":
        state = stack.start()
        stack.status()
        return state
    if cmd == "stop":
        return stack.stop()
    if cmd == "status":
        return stack.status()
    if cmd == "airflow":
        stack.start()
        return stack.serve_airflow()
    raise SystemExit(f"{USAGE} (got {cmd!r})")


if __name__ == "__main__":
    main()
