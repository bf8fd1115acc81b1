"""Deciding on an export the mass-lapse guard blocked (no Dagster import): what waits, the decision, the history.

Shared by ``orgsync membership approve|reject|pending`` (approvals_cli.py) and the web page ``/staff/membership``;
the Dagster sensor ``membership_approval_sensor`` then starts the push of an approved export (no run config).

Rules (the same for the command line and the web page):

* the export is named by its partition key (as Dagster and ``orgsync membership pending`` show it); an unknown name
  is refused with the closest known keys;
* it must be loaded, its diff computed and **not pushed** yet (a pushed export cannot be decided any more);
* ``approve`` only an export the guard blocked (nothing to approve otherwise); ``reject`` any unpushed export;
* ``by`` (who decides) and ``note`` (why: what was checked) are both required, for an approve as for a reject:
  the decision is the audit record of a change to many real people;
* **one decision per export, final**: a rejected export is never pushed and is no longer the base of later diffs
  (they were computed without it), and an approved one may already be pushing; a mistaken approval is stopped in
  Dagster (terminate the run) and a new export sent instead.

Counts only, never a member's data: the listings carry no e-mail, key or name of a member.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.membership.guard import guard_with_settings
from orgsync_dagster.membership.settings import MembershipSettings, settings
from orgsync_dagster.membership.store import APPROVE, REJECT
from orgsync_dagster.membership.tables import approvals, diffs, exports, pushes

DECISIONS = (APPROVE, REJECT)
MAX_NAME, MAX_NOTE = 200, 2000


class DecisionError(ValueError):
    """A decision that cannot be recorded, with a message meant for the person deciding."""


class ExportNotFound(DecisionError):
    def __init__(self, name: str, matches: list[str]):
        self.matches = matches
        hint = ("; did you mean: " + ", ".join(matches)) if matches else "; `orgsync membership pending` lists them"
        super().__init__(f"no membership export {name!r}{hint}")


@dataclass(frozen=True)
class ExportState:
    """One export's counts and where it stands (no member data)."""

    partition_key: str
    received: dt.datetime | None
    base_partition: str | None
    older_rows: int
    newer_rows: int
    new: int
    updated: int
    lapsed: int
    unchanged: int
    quarantined: int
    lapsed_share: float
    shrink_share: float
    blocked: bool  # the guard's thresholds are exceeded
    reason: str  # the guard's description (without the how-to)
    decision: dict | None
    pushed: bool

    @property
    def waiting(self) -> bool:
        return self.blocked and self.decision is None and not self.pushed

    def to_dict(self) -> dict:
        out = asdict(self)
        out["received"] = _iso(self.received)
        out["decision"] = _decision_dict(self.decision) if self.decision else None
        out["waiting"] = self.waiting
        return out


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def _decision_dict(row: dict) -> dict:
    return {
        "id": int(row["id"]),
        "partition_key": row["partition_key"],
        "decision": row["decision"],
        "decided_by": row["decided_by"],
        "note": row.get("note") or "",
        "decided_at": _iso(row.get("decided_at")),
    }


def _int(v) -> int:
    return int(v or 0)


def _states(conn, s: MembershipSettings, where=None) -> list[ExportState]:
    latest = (
        sa.select(approvals)
        .distinct(approvals.c.partition_key)
        .order_by(approvals.c.partition_key, approvals.c.id.desc())
        .subquery("latest")
    )
    q = (
        sa.select(
            exports.c.partition_key,
            exports.c.last_modified,
            exports.c.received_at,
            exports.c.rows_quarantined,
            diffs,
            latest.c.id.label("d_id"),
            latest.c.decision.label("d_decision"),
            latest.c.decided_by.label("d_by"),
            latest.c.note.label("d_note"),
            latest.c.decided_at.label("d_at"),
            pushes.c.partition_key.label("pushed"),
        )
        .select_from(
            exports.join(diffs, diffs.c.partition_key == exports.c.partition_key)
            .outerjoin(latest, latest.c.partition_key == exports.c.partition_key)
            .outerjoin(pushes, pushes.c.partition_key == exports.c.partition_key)
        )
        .where(exports.c.status == "loaded")
        .order_by(exports.c.last_modified, exports.c.s3_key, exports.c.partition_key)
    )
    if where is not None:
        q = q.where(where)
    out = []
    for r in conn.execute(q).mappings():
        guard = guard_with_settings(
            s,
            older_rows=_int(r["older_rows"]),
            newer_rows=_int(r["newer_rows"]),
            lapsed=_int(r["lapsed"]),
            quarantined=_int(r["rows_quarantined"]),
            held=_int(r["held"]),
        )
        decision = None
        if r["d_id"] is not None:
            decision = {
                "id": r["d_id"],
                "partition_key": r["partition_key"],
                "decision": r["d_decision"],
                "decided_by": r["d_by"],
                "note": r["d_note"],
                "decided_at": r["d_at"],
            }
        out.append(
            ExportState(
                partition_key=r["partition_key"],
                received=r["last_modified"] or r["received_at"],
                base_partition=r["base_partition"],
                older_rows=_int(r["older_rows"]),
                newer_rows=_int(r["newer_rows"]),
                new=_int(r["new"]),
                updated=_int(r["updated"]),
                lapsed=_int(r["lapsed"]),
                unchanged=_int(r["unchanged"]),
                quarantined=_int(r["rows_quarantined"]),
                lapsed_share=guard.lapsed_share,
                shrink_share=guard.shrink_share,
                blocked=guard.tripped,
                reason=guard.description.removeprefix("Blocked: ").split(". Check the export")[0],
                decision=decision,
                pushed=r["pushed"] is not None,
            )
        )
    return out


def pending(engine: Engine, s: MembershipSettings | None = None) -> list[ExportState]:
    """Exports waiting for a decision: loaded, diff computed, guard tripped, no decision, not pushed (oldest
    first: exports are pushed in order)."""
    with engine.connect() as conn:
        return [e for e in _states(conn, s or settings()) if e.waiting]


def export_state(engine: Engine, partition_key: str, s: MembershipSettings | None = None) -> ExportState | None:
    with engine.connect() as conn:
        found = _states(conn, s or settings(), exports.c.partition_key == partition_key)
    return found[0] if found else None


def history(engine: Engine, limit: int = 50) -> list[dict]:
    """The latest decisions, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(approvals).order_by(approvals.c.id.desc()).limit(limit)).mappings().all()
    return [_decision_dict(dict(r)) for r in rows]


def decisions_after(engine: Engine, after_id: int, limit: int = 100) -> list[dict]:
    """Decisions recorded after ``after_id`` (oldest first), with whether their export is pushed (for the sensor)."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(approvals, pushes.c.partition_key.label("pushed"))
                .select_from(approvals.outerjoin(pushes, pushes.c.partition_key == approvals.c.partition_key))
                .where(approvals.c.id > after_id)
                .order_by(approvals.c.id)
                .limit(limit)
            )
            .mappings()
            .all()
        )
    return [{**_decision_dict(dict(r)), "pushed": r["pushed"] is not None} for r in rows]


def resolve_export(engine: Engine, name: str) -> str:
    """The partition key named by ``name`` (exactly, surrounding spaces ignored); else ExportNotFound with the
    closest keys."""
    name = (name or "").strip()
    if not name:
        raise DecisionError("name the export (its partition key, as `orgsync membership pending` shows it)")
    with engine.connect() as conn:
        if conn.execute(sa.select(exports.c.partition_key).where(exports.c.partition_key == name)).first():
            return name
        keys = list(conn.execute(sa.select(exports.c.partition_key)).scalars())
    close = [k for k in keys if name.lower() in k.lower()][:5]
    close += [k for k in difflib.get_close_matches(name, keys, n=5, cutoff=0.5) if k not in close]
    raise ExportNotFound(name, close[:5])


def _clean(text: str | None, what: str, limit: int) -> str:
    value = (text or "").strip()
    if not value:
        raise DecisionError(f"{what} is required")
    if len(value) > limit:
        raise DecisionError(f"{what} is too long ({len(value)} characters, at most {limit})")
    if any(ord(c) < 32 and c not in "\n\t" or ord(c) == 127 for c in value):
        raise DecisionError(f"{what} contains control characters")
    return value


def validate(decision: str, by: str | None, note: str | None) -> tuple[str, str, str, list[str]]:
    """(decision, by, note, problems): every problem of the form at once."""
    problems = []
    d = (decision or "").strip().lower()
    if d not in DECISIONS:
        problems.append(f"the decision must be 'approve' or 'reject', not {decision!r}")
    values = []
    for text, what, limit in (
        (by, "who decides (--by)", MAX_NAME),
        (note, "a note (--note: what was checked)", MAX_NOTE),
    ):
        try:
            values.append(_clean(text, what, limit))
        except DecisionError as exc:
            problems.append(str(exc))
            values.append("")
    return d, values[0], values[1], problems


def decide(engine: Engine, export: str, decision: str, by: str, note: str, s: MembershipSettings | None = None) -> dict:
    """Record ``approve`` or ``reject`` for ``export`` (see the module's rules) and return the decision (id,
    partition_key, decision, decided_by, note, decided_at). Raises DecisionError with a clear message."""
    d, by, note, problems = validate(decision, by, note)
    if problems:
        raise DecisionError("; ".join(problems))
    pk = resolve_export(engine, export)
    s = s or settings()
    with engine.begin() as conn:
        # one decision at a time per export (CLI and web page alike): the export's row is locked until commit
        row = conn.execute(sa.select(exports.c.status).where(exports.c.partition_key == pk).with_for_update()).first()
        if row.status != "loaded":
            raise DecisionError(f"export {pk} is not loaded (status {row.status}): there is nothing to decide")
        states = _states(conn, s, exports.c.partition_key == pk)
        if not states:
            raise DecisionError(f"export {pk} has no diff yet: run the membership_sync job for it first")
        state = states[0]
        if state.pushed:
            raise DecisionError(f"export {pk} was already pushed to Action Network: it cannot be decided any more")
        if state.decision:
            prev = state.decision
            raise DecisionError(
                f"export {pk} was already {'approved' if prev['decision'] == APPROVE else 'rejected'} by "
                f"{prev['decided_by']} at {_iso(prev['decided_at'])}; a decision is final"
            )
        if d == APPROVE and not state.blocked:
            raise DecisionError(
                f"export {pk} is not blocked by the mass-lapse guard ({state.reason}): there is nothing to approve"
            )
        new = conn.execute(
            approvals.insert()
            .values(partition_key=pk, decision=d, decided_by=by, note=note)
            .returning(approvals.c.id, approvals.c.decided_at)
        ).one()
    return _decision_dict(
        {"id": new.id, "partition_key": pk, "decision": d, "decided_by": by, "note": note, "decided_at": new.decided_at}
    )
