"""Drift repair: Action Network (its warehouse mirror, refreshed by a full paging) compared with the latest
snapshot, and only the drift written, through the same ledger and SyncEngine as the push (no Dagster import).

Kinds of drift (``plan_drift``):

* ``missing`` - a member of the snapshot (with an e-mail) that Action Network does not have -> one upsert;
* ``update``  - a snapshot member whose ``is_member`` (from the configured rule) or mapped fields (after the
  person's ``override_<field>`` values) differ in Action Network -> one upsert of the whole mapped person;
  a mapped field Action Network holds but the export left empty is cleared, only when the export has the column;
* ``lapse``   - a person with ``is_member`` "True" in Action Network whose address is nowhere in the snapshot
  (quarantined rows included) -> one ``PUT people/{id}`` with ``is_member`` "False" (the id is in the mirror).

Never touched: people not in the snapshot whose ``is_member`` is absent (never set by this sync or the original)
or already "False". Only field *names* are reported, never values; keys are masked unless configured otherwise.
Ledger actions are ``repair`` / ``repair_lapse`` so a repair is not mistaken for the earlier push of the same
payload (which Action Network has since drifted from); a repair already done with the same payload is skipped.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orgsync_dagster.lib.runtime import ledger_factory
from orgsync_dagster.lib.sync import Op, SyncEngine, SyncReport
from orgsync_dagster.membership.mapping import (
    CUSTOM_FIELDS,
    IS_MEMBER,
    PHONE_COLUMNS,
    PHONE_FIELD,
    mask_key,
    person_from_row,
)
from orgsync_dagster.membership.overrides import overrides_of
from orgsync_dagster.membership.push import LAPSE, UPSERT, MembershipTarget
from orgsync_dagster.membership.rules import DEFAULT_RULE, MemberRule

REPAIR, REPAIR_LAPSE = "repair", "repair_lapse"
KINDS = ("missing", "update", "lapse")
_EMAIL = re.compile(r"[^\s@,;<>\"']+@[^\s@,;<>\"']+\.[^\s@,;<>\"']+")


@dataclass
class DriftPlan:
    ops: list[Op]
    counts: Counter = field(default_factory=Counter)  # missing, update, lapse, in_sync, untouched_*, no_email
    fields: Counter = field(default_factory=Counter)  # drifted field name -> members
    sample: list[dict] = field(default_factory=list)  # masked: {key, kind, fields}

    @property
    def requests(self) -> int:
        return sum(op.cost for op in self.ops)

    def summary(self) -> dict:
        return {
            **{k: int(self.counts.get(k, 0)) for k in KINDS},
            "in_sync": int(self.counts.get("in_sync", 0)),
            "untouched_not_member": int(self.counts.get("untouched_not_member", 0)),
            "no_email": int(self.counts.get("no_email", 0)),
            "planned_requests": self.requests,
            "drifted_fields": dict(self.fields.most_common()),
        }


def emails_in(values: Iterable) -> set[str]:
    """Every e-mail address found in raw values (quarantined rows may hold it in a shifted column)."""
    out: set[str] = set()
    for v in values:
        if isinstance(v, str) and "@" in v:
            out.update(m.group(0).strip().lower() for m in _EMAIL.finditer(v))
    return out


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def drifted_fields(want: dict, have: Mapping, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(drifted Action Network field names, export columns to clear) between the person we would write and the
    mirrored person."""
    drifted: list[str] = []
    for fld in ("given_name", "family_name"):
        if fld in want and want[fld] != have.get(fld):
            drifted.append(fld)
    if want.get("postal_addresses"):
        w = want["postal_addresses"][0]
        h = have.get("postal_address") or {}
        for k, v in w.items():
            if k != "primary" and v != h.get(k):
                drifted.append(f"postal_addresses.{k}")
    have_custom = have.get("custom_fields") or {}
    want_custom = want.get("custom_fields") or {}
    cleared: list[str] = []
    candidates = [(col, name) for col, name in CUSTOM_FIELDS.items() if col in columns]
    if any(c in columns for c in PHONE_COLUMNS):
        candidates.append((PHONE_COLUMNS[0], PHONE_FIELD))
    candidates.append(("", IS_MEMBER))
    for col, name in candidates:
        w, h = want_custom.get(name), have_custom.get(name)
        if _blank(w) and _blank(h):
            continue
        if w != h:
            drifted.append(name)
            if _blank(w) and col:
                cleared.extend(PHONE_COLUMNS if name == PHONE_FIELD else [col])
    return drifted, cleared


def plan_drift(
    rows: Iterable[dict],
    *,
    key_column: str,
    columns: Sequence[str],
    mirror: Mapping[str, dict],
    protected_emails: Iterable[str] = (),
    rule: MemberRule = DEFAULT_RULE,
    add_tags: Sequence[str] = (),
    sample_size: int = 10,
    show_personal_data: bool = False,
) -> DriftPlan:
    """Compare the snapshot ``rows`` with the ``mirror`` (lower-cased e-mail -> mirrored person)."""
    plan = DriftPlan([])
    in_snapshot: set[str] = {e.strip().lower() for e in protected_emails if e}

    def note(key: str, kind: str, fields: list[str]) -> None:
        plan.counts[kind] += 1
        plan.fields.update(fields)
        if len(plan.sample) < sample_size:
            shown = key if show_personal_data else mask_key(key)
            plan.sample.append({"key": shown, "kind": kind, "fields": fields})

    for row in rows:
        email = (row.get("email") or "").strip()
        if not email:
            plan.counts["no_email"] += 1
            continue
        in_snapshot.add(email.lower())
        key = str(row.get(key_column) or email)
        have = mirror.get(email.lower())
        overrides = overrides_of((have or {}).get("custom_fields"))
        want = person_from_row(row, rule=rule, overrides=overrides)
        if have is None:
            kind, fields, cleared = "missing", [], []
        else:
            fields, cleared = drifted_fields(want, have, columns)
            if not fields:
                plan.counts["in_sync"] += 1
                continue
            kind = "update"
            if cleared:
                want = person_from_row(row, rule=rule, overrides=overrides, cleared=tuple(cleared))
        payload: dict = {"person": want}
        if add_tags:
            payload["add_tags"] = list(add_tags)
        reason = "missing in Action Network" if kind == "missing" else "drift: " + ", ".join(fields)
        plan.ops.append(Op(key, REPAIR, payload, cost=1, reason=reason))
        note(key, kind, fields)

    for email, have in mirror.items():
        if email in in_snapshot:
            continue
        flag = (have.get("custom_fields") or {}).get(IS_MEMBER)
        if flag != "True":
            plan.counts["untouched_not_member"] += 1
            continue
        pid = have["person_id"]
        plan.ops.append(
            Op(
                email,
                REPAIR_LAPSE,
                {"email": email, IS_MEMBER: "False"},
                cost=2,  # the person is read first (is the address still theirs?), then written
                reason="is_member True but not in the snapshot",
                context={"person_id": pid},
            )
        )
        note(email, "lapse", [IS_MEMBER])
    return plan


def _as_base(op: Op) -> Op:
    return dataclasses.replace(op, action=UPSERT if op.action == REPAIR else LAPSE)


class DriftTarget(MembershipTarget):
    """The push's Action Network target for the repair actions (same requests, same reconciliation)."""

    def apply(self, op: Op) -> str | None:
        return super().apply(_as_base(op))

    def reconcile(self, ops: Sequence[Op]) -> dict[str, str | None]:
        return super().reconcile([_as_base(op) for op in ops])


def run_repair(
    engine, client, plan: DriftPlan, *, scope: str, run_id: str, concurrency: int, dry_run: bool, logger=None
) -> tuple[SyncReport, dict]:
    """Write the drift through the ledger-backed engine (``dry_run``: what would be sent, nothing is)."""
    target = DriftTarget(client, scope, concurrency=concurrency)
    report = SyncEngine(ledger_factory(engine, run_id), concurrency=concurrency, logger=logger).run(
        target, plan.ops, dry_run=dry_run
    )
    outcome = {
        "repaired": report.succeeded.get(REPAIR, 0),
        "lapsed": report.succeeded.get(REPAIR_LAPSE, 0) - target.not_in_action_network,
        "already_done": report.skipped_done,
        "failed": report.failed,
        "uncertain": report.uncertain,
    }
    if target.refused:
        outcome["key_refused"] = target.refused
    return report, outcome


def lapse_guard(plan: DriftPlan, mirror: Mapping[str, dict], max_share: float) -> str | None:
    """A reason to refuse when the repair would lapse more than ``max_share`` of Action Network's members."""
    members = sum(1 for p in mirror.values() if (p.get("custom_fields") or {}).get(IS_MEMBER) == "True")
    lapses = plan.counts.get("lapse", 0)
    if members and lapses > max_share * members:
        return (
            f"{lapses} of {members} Action Network members ({lapses / members:.1%}) would be lapsed, more than "
            f"membership.guard.max_lapsed_share ({max_share:.0%}); check that the snapshot is complete"
        )
    return None
