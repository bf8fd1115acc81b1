"""A one-asset code location for the crash-recovery test: the step takes the van_api pool slot, says so in a marker
file, then waits (long enough to be killed, or not at all)."""

import os
import time
from pathlib import Path

import dagster as dg


@dg.asset(pool="van_api")
def paid_api_step() -> int:
    marker = Path(os.environ["CRASH_TEST_MARKER"])
    partial = marker.with_suffix(".partial")
    partial.write_text(str(os.getpid()))
    partial.rename(marker)  # atomic: the test never reads a half-written marker
    time.sleep(float(os.environ.get("CRASH_TEST_SLEEP", "0")))
    return 1


defs = dg.Definitions(assets=[paid_api_step])
