"""The push figures at test size (benchmarks/membership_push.py runs the same code bigger)."""

import pytest

from benchmarks import membership_push as bench
from orgsync_dagster.membership import samples
from orgsync_dagster.resources.warehouse import engine_for

PAIR = samples.week_pair(120, new=30, updated=20, lapsed=10)  # 60 changed members, 90 unchanged
CHANGES = 60


def test_push_never_exceeds_the_rate_limit_and_sends_one_request_per_change(fast_pg_url):
    out = bench.measure_throughput(engine_for(fast_pg_url), PAIR, rps=20, latency_ms=100)
    assert out["problems"] == []
    assert out["answered_429"] == 0
    # throughput (>= 90% of the limit) is a timing figure: benchmarks/membership_push.py measures and checks it
    assert out["writes"] == CHANGES  # exactly one write per change, none for the 90 unchanged members
    # plus one verifying read per lapse (the person must hold the address before it is written)
    assert out["requests"] == out["served"] == CHANGES + 10
    assert out["lapsed_in_action_network"] == 10


def test_with_20_percent_faults_the_end_state_is_exact_and_writes_stay_under_1_1x(fast_pg_url):
    out = bench.measure_faults(engine_for(fast_pg_url), PAIR, fault_rate=0.2)
    assert out["problems"] == []
    assert sum(out["faults"].values()) > 0
    assert out["writes"] < 1.1 * CHANGES, out


@pytest.mark.slow
def test_killed_push_resumes_from_the_ledger(fast_pg_url, tmp_path):
    out = bench.measure_kill(engine_for(fast_pg_url), fast_pg_url, PAIR, tmp_path, rps=20, latency_ms=50, kill_after=15)
    assert out["problems"] == []
    assert out["resume_exit"] == 0 and out["resume_already_done"] >= 15
    assert out["writes"] < 1.1 * CHANGES, out
