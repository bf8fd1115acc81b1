from orgsync_dagster.usage.words import usage_sentences


def _row(system, instance, requests, cost=0.0, writes=0, throttled=0, errors=0):
    return {
        "system": system, "instance": instance, "requests": requests, "writes": writes,
        "throttled": throttled, "errors": errors, "cost_usd": cost,
    }  # fmt: skip


def test_usage_in_words_explains_the_van_bill_and_action_network():
    lines = usage_sentences(
        [
            _row("action_network", "default", 57, writes=57),
            _row("van", "MI", 1234, cost=2.34, writes=1000, throttled=3, errors=1),
            _row("van", "WI", 1),
        ]
    )
    assert (
        lines[0]
        == "Action Network: 57 requests, 57 of them writes; not billed (Action Network limits the rate instead)."
    )
    assert lines[1] == (
        "VAN MI: 1,234 requests, 1,000 of them writes, 3 answered 429 (throttled) and retried, 1 error answer; "
        "234 above the 1,000 free requests a day, billed at $0.01 each: $2.34."
    )
    assert lines[2] == "VAN WI: 1 request; within the 1,000 free requests a day, so nothing to pay."
    assert "first 1,000 requests of a day are free, every request above them costs $0.01" in lines[3]
    assert usage_sentences([]) == []
