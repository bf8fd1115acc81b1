"""The API usage report in words, for people (the demo report, Slack summaries). No Dagster import."""

from __future__ import annotations

from orgsync_dagster.lib.meter import PRICING

NAMES = {"van": "VAN", "action_network": "Action Network"}


def _n(value: int) -> str:
    return f"{value:,}"


def usage_sentences(summary: list[dict]) -> list[str]:
    """One sentence per API and instance from ``usage.assets.summarize`` rows (requests, writes, throttled,
    errors, cost_usd), then what the dollar figures mean."""
    lines = []
    van = PRICING["van"]
    for row in summary:
        system, instance = row["system"], row["instance"]
        name = NAMES.get(system, system)
        where = f"{name} {instance}" if instance and instance != "default" else name
        parts = [f"{_n(row['requests'])} request{'s' if row['requests'] != 1 else ''}"]
        if row.get("writes"):
            parts.append(f"{_n(row['writes'])} of them writes")
        if row.get("throttled"):
            parts.append(f"{_n(row['throttled'])} answered 429 (throttled) and retried")
        if row.get("errors"):
            parts.append(f"{_n(row['errors'])} error answer{'s' if row['errors'] != 1 else ''}")
        if system == "van":
            free = van["free_per_day"]
            if row["requests"] <= free:
                cost = f"within the {_n(free)} free requests a day, so nothing to pay"
            else:
                billable = row["requests"] - free
                cost = (
                    f"{_n(billable)} above the {_n(free)} free requests a day, billed at "
                    f"${van['usd_per_request']:.2f} each: ${row['cost_usd']:,.2f}"
                )
        elif system == "action_network":
            cost = "not billed (Action Network limits the rate instead)"
        else:
            cost = "not billed"
        lines.append(f"{where}: {', '.join(parts)}; {cost}.")
    if any(r["system"] == "van" for r in summary):
        lines.append(
            f"How VAN is billed: each API key's first {_n(van['free_per_day'])} requests of a day are free, every "
            f"request above them costs ${van['usd_per_request']:.2f}; the dollar figures above are today's bill at "
            "that price."
        )
    return lines
