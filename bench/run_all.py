#!/usr/bin/env python
"""Run every benchmark in bench/ in turn (`make bench`); each writes its own results/*.json.

db_queries.py needs a MariaDB/MySQL server (default mysql://root@127.0.0.1:3306); it is skipped
with a message when none answers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def mysql_reachable() -> bool:
    try:
        import MySQLdb
    except ImportError:
        return False
    try:
        MySQLdb.connect(host="127.0.0.1", user="root", connect_timeout=3).close()
    except MySQLdb.Error:
        return False
    return True


def main() -> int:
    scripts = ["valkey_trace.py", "parallel_adds.py", "http_load.py"]
    if mysql_reachable():
        scripts.append("db_queries.py")
    else:
        print("db_queries.py skipped: no MariaDB/MySQL at 127.0.0.1:3306 (or no mysqlclient)")
    failed = []
    for script in scripts:
        print(f"\n== {script}", flush=True)
        if subprocess.run([sys.executable, str(BENCH / script)], cwd=BENCH.parent).returncode:
            failed.append(script)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
