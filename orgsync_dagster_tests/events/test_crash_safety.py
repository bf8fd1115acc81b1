"""Kill the run process (SIGKILL, a real `dagster asset materialize` child) mid-push, re-run: each event once."""

from benchmarks.events_sync import crash_and_rerun


def test_sigkill_mid_push_then_rerun_creates_every_event_exactly_once():
    result = crash_and_rerun(n_events=120, kill_after=30)
    assert 30 <= result["killed_after_creates"] < 120, result  # really killed in the middle of the push
    assert result["rerun_exit"] == 0
    assert result["in_van"] == 120 and result["exactly_once"], result
    assert result["ledger_unresolved_after_rerun"] == 0, result  # the interrupted create was reconciled
