"""``override_<field>``: organisers' manual escape hatch (seed-origins.md §2.3), pure logic plus the mirror read.

Rule: an Action Network custom field named ``override_<Action Network field name>`` on a person wins over the
value the mapper computed from the export for that field, each time the person is written (push or drift
repair). Field names are the ones the mapper writes:

* core: ``given_name``, ``family_name``; postal address parts ``address_lines`` (one line), ``locality``,
  ``region``, ``postal_code``, ``country``;
* custom fields: ``Phone``, ``Middle Name``, ``Address Line 2``, ``Mail Preference``, ``Do Not Call``,
  ``Do Not Text``, ``monthly_dues_status``, ``annual_recurring_dues_status``, ``union_member``, ``union_name``,
  ``union_local``, ``student_yes_no``, ``student_school_name``, ``YDSA Chapter`` (e.g. ``override_Phone``,
  ``override_YDSA Chapter``).

Never overridable: the e-mail address (it is how Action Network matches the person) and ``is_member``
(membership comes from national's export through the configured rule). An empty override is no override;
unknown names are ignored (counted). Overrides are read from the warehouse mirror of Action Network people
(membership/mirror.py), refreshed by paging, never by one GET per person. Unlike the original (whose overrides
leaked to the next person processed), each person gets only its own overrides.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

from orgsync_dagster.membership.mapping import CUSTOM_FIELDS, PHONE_FIELD

PREFIX = "override_"
CORE_FIELDS = ("given_name", "family_name")
ADDRESS_FIELDS = ("address_lines", "locality", "region", "postal_code", "country")
CUSTOM_OVERRIDABLE = frozenset([*CUSTOM_FIELDS.values(), PHONE_FIELD])
OVERRIDABLE = frozenset([*CORE_FIELDS, *ADDRESS_FIELDS, *CUSTOM_OVERRIDABLE])


def overrides_of(custom_fields: Mapping | None) -> dict[str, str]:
    """``{field: value}`` of the usable ``override_<field>`` custom fields of one Action Network person."""
    out: dict[str, str] = {}
    for name, value in (custom_fields or {}).items():
        if not isinstance(name, str) or not name.startswith(PREFIX):
            continue
        fld = name[len(PREFIX) :]
        if fld in OVERRIDABLE and isinstance(value, str) and value.strip():
            out[fld] = value.strip()
    return out


def ignored_overrides(custom_fields: Mapping | None) -> list[str]:
    """Override fields that are not applied (unknown field, e-mail, is_member)."""
    return sorted(
        n
        for n in (custom_fields or {})
        if isinstance(n, str) and n.startswith(PREFIX) and n[len(PREFIX) :] not in OVERRIDABLE
    )


def apply_overrides(person: dict, overrides: Mapping[str, str]) -> dict:
    """A copy of the signup-helper ``person`` with the overrides applied."""
    if not overrides:
        return person
    out = copy.deepcopy(person)
    for fld, value in overrides.items():
        if fld in CORE_FIELDS:
            out[fld] = value
        elif fld in ADDRESS_FIELDS:
            addresses = out.setdefault("postal_addresses", [{"primary": True, "country": "US"}])
            addresses[0][fld] = [value] if fld == "address_lines" else value
        elif fld in CUSTOM_OVERRIDABLE:
            out.setdefault("custom_fields", {})[fld] = value
    return out


def overrides_by_email(people: Mapping[str, dict]) -> dict[str, dict[str, str]]:
    """Mirror people (``mirror.people_by_email``) -> e-mail -> overrides, only people that have some."""
    out = {}
    for email, p in people.items():
        o = overrides_of(p.get("custom_fields"))
        if o:
            out[email] = o
    return out


def email_of_op(op) -> str | None:
    person = (op.payload or {}).get("person") if isinstance(op.payload, dict) else None
    try:
        return person["email_addresses"][0]["address"].strip().lower()
    except (TypeError, KeyError, IndexError, AttributeError):
        return None


def apply_to_ops(ops: Sequence, overrides: Mapping[str, Mapping[str, str]]) -> int:
    """Apply each person's overrides to the upsert ops of a push plan in place; returns how many ops changed."""
    changed = 0
    for op in ops:
        email = email_of_op(op)
        if email and email in overrides:
            op.payload["person"] = apply_overrides(op.payload["person"], overrides[email])
            changed += 1
    return changed


def overrides_for_push(
    engine, ops: Sequence, *, client=None, group: str | None = None, max_age_minutes: int = 0
) -> dict:
    """Before a push: refresh the mirror when ``client`` is given (incremental, skipped when younger than
    ``max_age_minutes``; only when the plan has upserts) and apply the mirrored overrides to the upsert ops.
    Without a client (a dry run without a key) the mirror is used as it is. Returns counts for the summary."""
    from orgsync_dagster.membership.mirror import group_of, refresh_mirror

    upserts = [op for op in ops if email_of_op(op)]
    out = {"mirror": "not needed", "mirror_requests": 0, "overrides_applied": 0}
    if not upserts:
        return out
    if client is not None:
        from orgsync_dagster.resources.http import ApiError

        group = group_of(client)
        before = client.requests_sent
        try:
            refresh = refresh_mirror(engine, client, max_age_minutes=max_age_minutes)
        except ApiError as exc:
            if exc.status not in (401, 403):
                raise  # without a fresh mirror an organiser's override could be overwritten: no push
            # the key is refused: the push itself stops at its first request and says so (nothing is written)
            out.update(mirror="refused", mirror_requests=client.requests_sent - before)
            return out
        out.update(mirror=refresh.mode, mirror_requests=refresh.requests)
    else:
        out["mirror"] = "as is" if group else "unknown group"
    out["overrides_applied"] = apply_mirror_overrides(engine, group, upserts)
    return out


def apply_mirror_overrides(engine, group: str | None, ops: Sequence) -> int:
    """Look the plan's upsert e-mails up in the mirror of ``group`` and apply their overrides (one query per 5000
    people, no request to Action Network). ``group`` None (no Action Network key known): nothing applied."""
    if not group:
        return 0
    from orgsync_dagster.membership.mirror import people_by_email

    emails: Iterable[str] = [e for e in (email_of_op(op) for op in ops) if e]
    people = people_by_email(engine, group, emails)
    return apply_to_ops(ops, overrides_by_email(people))
