"""Who is a member: the ``is_member`` rule of the membership sync (pure logic, no Dagster import).

Configured in orgsync.yaml, section ``membership.is_member`` (validated by :func:`rule_from_config`):

* ``{rule: values, column: memb_status_letter, member_values: [M]}`` - the original's latest rule (BostonDSA,
  Apr 2023, seed-origins.md §2.3): letter "M" -> "True", any other letter -> "False". ``non_member_values``
  instead of ``member_values`` inverts it (every value is a member except those), e.g. the older
  ``{rule: values, column: membership_status, non_member_values: [expired, lapsed]}``.
* ``{rule: date_after, column: xdate, horizon_days: 60}`` - the older Xdate rule: a member unless the date in
  ``column`` lies more than ``horizon_days`` days before today.
* ``{rule: all_of, rules: [...]}`` - every sub-rule must say member (the original's 2021 rule was
  ``all_of: [{rule: date_after, column: xdate, horizon_days: 60}, {rule: values, column: membership_status,
  non_member_values: [expired, lapsed]}]``).
* ``{rule: present}`` - present in the export = member (the rule before the status letter existed).

Default (no section): the original's latest rule on ``memb_status_letter``.

Safety: a row whose rule column is empty or missing (an export without the column, or a blank cell) or holds
a date that cannot be read is a member - a wrong lapse is the worst bug, and a member who left the export is
lapsed by the weekly diff anyway. Values are compared trimmed and case-insensitively.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from orgsync_dagster.lib.config import ConfigError

__all__ = ["DEFAULT_RULE", "MemberRule", "as_flag", "rule_from_config"]

KINDS = ("values", "date_after", "all_of", "present")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%d-%b-%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def _norm(value) -> str:
    return str(value).strip().casefold() if value is not None else ""


def parse_date(value) -> dt.date | None:
    """The date of an export cell (ISO, US m/d/Y, with or without a time), None when unreadable."""
    text = str(value or "").strip()
    if not text:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text[:19] if "T" in text or ":" in text else text, fmt).date()
        except ValueError:
            continue
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class MemberRule:
    kind: str = "values"
    column: str | None = "memb_status_letter"
    member_values: frozenset[str] = frozenset({"m"})  # normalised (casefolded)
    non_member_values: frozenset[str] = frozenset()
    horizon_days: int = 0
    rules: tuple[MemberRule, ...] = field(default_factory=tuple)

    @property
    def columns(self) -> tuple[str, ...]:
        """Export columns the rule reads (they belong to the compared columns: a change there is a change)."""
        if self.kind == "all_of":
            return tuple(dict.fromkeys(c for r in self.rules for c in r.columns))
        return (self.column,) if self.column else ()

    def is_member(self, row: Mapping, today: dt.date | None = None) -> bool:
        if self.kind == "present":
            return True
        if self.kind == "all_of":
            return all(r.is_member(row, today) for r in self.rules)
        raw = row.get(self.column) if self.column else None
        value = _norm(raw)
        if not value:
            return True  # no value: present in the export = member (see module docstring)
        if self.kind == "values":
            if self.member_values:
                return value in self.member_values
            return value not in self.non_member_values
        if self.kind == "date_after":
            when = parse_date(raw)
            if when is None:
                return True
            return when >= (today or dt.date.today()) - dt.timedelta(days=self.horizon_days)
        raise ValueError(f"unknown rule kind {self.kind!r}")

    def flag(self, row: Mapping, today: dt.date | None = None) -> str:
        """The Action Network ``is_member`` custom field value: "True" or "False"."""
        return "True" if self.is_member(row, today) else "False"

    def describe(self) -> str:
        if self.kind == "present":
            return "present in the export = member"
        if self.kind == "all_of":
            return " and ".join(f"({r.describe()})" for r in self.rules)
        if self.kind == "date_after":
            return f"member unless {self.column} is more than {self.horizon_days} days ago"
        if self.member_values:
            return f"member when {self.column} is one of {sorted(self.member_values)}"
        return f"member unless {self.column} is one of {sorted(self.non_member_values)}"

    def missing_columns(self, columns: Iterable[str]) -> list[str]:
        have = set(columns)
        return [c for c in self.columns if c not in have]


DEFAULT_RULE = MemberRule()
PRESENT_RULE = MemberRule(kind="present", column=None, member_values=frozenset())


def _values(section: Mapping, name: str, where: str) -> frozenset[str]:
    raw = section.get(name)
    if raw is None:
        return frozenset()
    if isinstance(raw, (str, int)):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(v, (str, int)) and str(v).strip() for v in raw):
        raise ConfigError(f"{where}.{name} must be a list of non-empty values, e.g. [M]")
    return frozenset(_norm(v) for v in raw)


def rule_from_config(section: Mapping | None, where: str = "membership.is_member") -> MemberRule:
    """Validate one rule section (see the module docstring); a ConfigError names the wrong key."""
    if section is None:
        return DEFAULT_RULE
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where} must be a mapping such as {{column: memb_status_letter, member_values: [M]}}")
    allowed = {"rule", "column", "member_values", "non_member_values", "horizon_days", "rules"}
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    kind = str(section.get("rule") or ("all_of" if "rules" in section else "values"))
    if kind not in KINDS:
        raise ConfigError(f"{where}.rule must be one of {list(KINDS)}, not {kind!r}")
    if kind == "present":
        return PRESENT_RULE
    if kind == "all_of":
        subs = section.get("rules")
        if not isinstance(subs, list) or not subs:
            raise ConfigError(f"{where}.rules must be a non-empty list of rules")
        return MemberRule(
            kind="all_of",
            column=None,
            member_values=frozenset(),
            rules=tuple(rule_from_config(s, f"{where}.rules[{i}]") for i, s in enumerate(subs)),
        )
    column = section.get("column") or ("memb_status_letter" if kind == "values" else None)
    if not isinstance(column, str) or not column.strip():
        raise ConfigError(f"{where}.column must name an export column (e.g. xdate)")
    column = _canonical(column.strip())
    if kind == "date_after":
        days = section.get("horizon_days")
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ConfigError(f"{where}.horizon_days must be a whole number of days >= 0 (e.g. 60), not {days!r}")
        return MemberRule(kind="date_after", column=column, member_values=frozenset(), horizon_days=days)
    members = _values(section, "member_values", where)
    non_members = _values(section, "non_member_values", where)
    if "member_values" not in section and "non_member_values" not in section and column == "memb_status_letter":
        members = DEFAULT_RULE.member_values
    if bool(members) == bool(non_members):
        raise ConfigError(f"{where}: give exactly one of member_values or non_member_values for column {column!r}")
    return MemberRule(kind="values", column=column, member_values=members, non_member_values=non_members)


def _canonical(name: str) -> str:
    """Any header spelling of a known column -> its canonical name (``Xdate`` -> ``xdate``)."""
    try:
        from orgsync_dagster.membership.exports import canonical_column

        return canonical_column(name) or name
    except Exception:  # exports unavailable or refactored: keep the configured name
        return name


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def as_flag(value: str) -> str:
    """The original's string booleans (agate parsed yes/no/true/false/1/0 columns as booleans, written to Action
    Network as "True"/"False"); anything else is kept as it is."""
    v = value.strip().casefold()
    if v in _TRUE:
        return "True"
    if v in _FALSE:
        return "False"
    return value
