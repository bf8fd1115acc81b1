"""Day metrics a field director reads: shifts scheduled / confirmed / completed / no-show per office, canvass doors
against goal and knocks per canvasser-hour (the original's "kph" was doors per canvasser out, not per hour).

Pure: rows in, rows out. Statuses are read through the configured aliases ("In" counts as Completed...).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from orgsync_dagster.shifts.settings import NO_OFFICE, ShiftsSettings, norm

UTC = dt.UTC
CONFIRMED = {"confirmed", "same day confirmed", "conf twice"}
ATTENDED = {"completed", "in", "walk in"}
COLUMNS = [
    "office",
    "scheduled",
    "walk_ins",
    "confirmed",
    "completed",
    "no_show",
    "declined",
    "confirm_pct",
    "completion_pct",
    "no_show_pct",
    "groups",
    "canvassers",
    "doors",
    "goal",
    "pct_to_goal",
    "kph",
]
HEADERS = [
    "office",
    "scheduled",
    "walk-ins",
    "confirmed",
    "completed",
    "no-show",
    "declined",
    "confirm %",
    "completion %",
    "no-show %",
    "groups",
    "canvassers",
    "doors",
    "goal",
    "% to goal",
    "knocks/hour",
]
DEFINITIONS = (
    "_scheduled_: shifts imported from VAN; _confirmed_: confirmed or showed up; _completed_: completed (incl. still "
    "checked in); _no-show_: no show or flaked; _knocks/hour_: doors / (canvassers x hours out), per group from "
    "departure to return or last check-in."
)


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _hours(group: dict) -> float:
    start, end = group.get("departed_at"), group.get("returned_at") or group.get("last_check_in_at")
    if start is None or end is None:
        return 0.0
    seconds = (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()  # never wall-clock time across DST
    return max(0.0, seconds / 3600.0)


def day_metrics(shifts: list[dict], groups: list[dict], settings: ShiftsSettings) -> list[dict]:
    """One row per office (sorted) and a final ``Total`` row."""
    acc: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    members: dict = defaultdict(int)
    for s in shifts:
        if s.get("is_active") is False:
            continue
        a = acc[s.get("office") or NO_OFFICE]
        status = norm(s.get("status"))
        van = norm(settings.van_status_name(s.get("status")))
        a["walk_ins" if s.get("source") == "walk_in" else "scheduled"] += 1
        a["confirmed"] += status in CONFIRMED or van in CONFIRMED or status in ATTENDED or van in ATTENDED
        a["completed"] += van == "completed" or status in ("completed", "in")
        a["no_show"] += van == "no show" or bool(s.get("flake"))
        a["declined"] += van == "declined"
        if s.get("canvass_group_id") is not None:
            members[s["canvass_group_id"]] += 1
    for g in groups:
        if g.get("is_active") is False:
            continue
        a = acc[g.get("office") or NO_OFFICE]
        n = members.get(g["id"], 0)
        a["groups"] += 1
        a["canvassers"] += n
        a["doors"] += g.get("doors") or 0
        a["goal"] += g.get("goal") or 0
        a["canvasser_hours"] += _hours(g) * max(n, 1)
    total: dict = defaultdict(float)
    rows = []
    for office in sorted(acc):
        for k, v in acc[office].items():
            total[k] += v
        rows.append(_finish(office, acc[office]))
    rows.append(_finish("Total", total))
    return rows


def _finish(office: str, a: dict) -> dict:
    people = a["scheduled"] + a["walk_ins"]
    row = {
        k: int(a[k])
        for k in (
            "scheduled",
            "walk_ins",
            "confirmed",
            "completed",
            "no_show",
            "declined",
            "groups",
            "canvassers",
            "doors",
            "goal",
        )
    }
    row.update(
        office=office,
        confirm_pct=_pct(a["confirmed"], a["scheduled"]),
        completion_pct=_pct(a["completed"], people),
        no_show_pct=_pct(a["no_show"], a["scheduled"]),
        pct_to_goal=_pct(a["doors"], a["goal"]),
        canvasser_hours=round(a["canvasser_hours"], 2),
        kph=round(a["doors"] / a["canvasser_hours"], 1) if a["canvasser_hours"] else None,
    )
    return row


def markdown(rows: list[dict], title: str = "") -> str:
    def cell(row, col):
        value = row.get(col)
        if value is None:
            return "–"
        if col.endswith("_pct") or col == "pct_to_goal":
            return f"{value:g}%"
        text = str(value).replace("|", "/")
        return f"**{text}**" if row.get("office") == "Total" else text

    lines = [
        f"### {title}\n" if title else "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" + "---:|" * (len(HEADERS) - 1),
    ]
    lines += ["| " + " | ".join(cell(r, c) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n\n" + DEFINITIONS
