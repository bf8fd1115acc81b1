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


# -- the tracker's live dashboard: office -> region -> state ------------------------------------------------------
LIVE_COLUMNS = [
    ("scheduled", "scheduled"),
    ("walk_ins", "walk-ins"),
    ("confirm_pct", "confirm %"),
    ("completion_pct", "completion %"),
    ("flake_pct", "flake %"),
    ("flakes_to_chase", "flakes to chase"),
    ("canvassers_out", "canvassers out now"),
    ("doors", "doors"),
    ("goal", "goal"),
    ("pct_to_goal", "% to goal"),
    ("kph", "knocks/hour"),
    ("overdue_check_ins", "overdue check-ins"),
]


def _live_acc(shifts: list[dict], groups: list[dict], settings: ShiftsSettings, now: dt.datetime) -> dict:
    acc: dict = defaultdict(lambda: defaultdict(float))
    members: dict = defaultdict(int)
    for s in shifts:
        key = (s["instance"], s.get("region") or "–", s.get("office") or NO_OFFICE)
        a = acc[key]
        status = norm(s.get("status"))
        van = norm(settings.van_status_name(s.get("status")))
        a["walk_ins" if s.get("source") == "walk_in" else "scheduled"] += 1
        if s.get("source") != "walk_in":
            a["confirmed"] += status in CONFIRMED or van in CONFIRMED or status in ATTENDED or van in ATTENDED
            a["flakes"] += bool(s.get("flake"))
        a["completed"] += van == "completed" or status in ("completed", "in")
        a["flakes_to_chase"] += bool(s.get("flake")) and not s.get("flake_pass") and van not in ("resched",)
        if s.get("canvass_group_id") is not None:
            members[s["canvass_group_id"]] += 1
    for g in groups:
        office = g.get("office") or NO_OFFICE
        key = (g["instance"], settings.region_of(office) or "–", office)
        a = acc[key]
        n = members.get(g["id"], 0)
        out = g.get("departed_at") is not None and not g.get("is_returned")
        a["canvassers_out"] += n if out else 0
        a["doors"] += g.get("doors") or 0
        a["goal"] += g.get("goal") or 0
        a["overdue_check_ins"] += out and g.get("next_check_in_at") is not None and g["next_check_in_at"] < now
        start = g.get("departed_at")
        end = g.get("returned_at") if g.get("is_returned") else now
        if start is not None and end is not None:
            hours = max(0.0, (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600.0)
            a["canvasser_hours"] += hours * max(n, 1)
    return acc


def _live_row(level: str, state: str, region: str | None, office: str | None, a: dict) -> dict:
    people = a["scheduled"] + a["walk_ins"]
    label = office or (f"Region {region}" if region else f"{state} total")
    return {
        "level": level,
        "state": state,
        "region": region,
        "office": office,
        "label": label,
        **{k: int(a[k]) for k in ("scheduled", "walk_ins", "flakes_to_chase", "canvassers_out", "doors", "goal")},
        "overdue_check_ins": int(a["overdue_check_ins"]),
        "confirm_pct": _pct(a["confirmed"], a["scheduled"]),
        "completion_pct": _pct(a["completed"], people),
        "flake_pct": _pct(a["flakes"], a["scheduled"]),
        "pct_to_goal": _pct(a["doors"], a["goal"]),
        # knocks per canvasser-hour: doors / (members x hours out, to now for groups still out)
        "kph": round(a["doors"] / a["canvasser_hours"], 1) if a["canvasser_hours"] else None,
    }


def rollup(shifts: list[dict], groups: list[dict], settings: ShiftsSettings, now: dt.datetime) -> list[dict]:
    """Rows state -> its regions -> their offices (each parent before its children), every level summed from the
    offices below it (percentages recomputed from the sums, never averaged)."""
    acc = _live_acc(shifts, groups, settings, now)
    out = []
    for state in sorted({k[0] for k in acc}):
        total: dict = defaultdict(float)
        state_rows = []
        for region in sorted({k[1] for k in acc if k[0] == state}):
            sub: dict = defaultdict(float)
            office_rows = []
            for key in sorted(k for k in acc if k[0] == state and k[1] == region):
                for name, value in acc[key].items():
                    sub[name] += value
                    total[name] += value
                office_rows.append(_live_row("office", state, region, key[2], acc[key]))
            state_rows.append(_live_row("region", state, region, None, sub))
            state_rows += office_rows
        out.append(_live_row("state", state, None, None, total))
        out += state_rows
    return out
