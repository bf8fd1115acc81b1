"""The calls configuration forms of the staff page: form fields <-> configuration documents, and each validation
problem (a ``FieldError`` path such as ``results['busy'].value``) -> the form field it is shown next to.

Plain functions, no web framework and no database. The form never validates by itself beyond what only the form
knows (a result row without a name, a name given twice): values are passed to the config store as typed as they
could be read (``"25"`` -> 25, ``"soon"`` stays ``"soon"``), so the store's validation - the same function as the
``candidate_config_valid`` check - reports every problem with its field and its own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orgsync_dagster.calls.config import FieldError, normalize_result

# (name, kind): kind text | int | bool. Booleans carry their default (an absent key keeps being absent).
CANDIDATE_SCALARS = (
    ("display_name", "text"),
    ("district", "text"),
    ("active", "bool"),
    ("van_instance", "text"),
    ("van_mode", "text"),
    ("strategy", "text"),
    ("timezone", "text"),
    ("sync_hour", "int"),
    ("daily_budget", "int"),
    ("bulk_import_threshold", "int"),
    ("contact_type_id", "int"),
    ("input_type_id", "int"),
    ("cdr_date_order", "text"),
    ("report_channel", "text"),
    ("report_webhook_env", "text"),
    ("success_webhook_env", "text"),
    ("failure_webhook_env", "text"),
)
RULE_COLUMNS = (
    ("display_name", "text"),
    ("success", "tri"),
    ("result_code", "int"),
    ("activist_codes", "ids"),
    ("responses", "pairs"),
    ("sync_to_van", "bool"),
    ("include_in_csv", "bool"),
    ("value", "int"),
)
BOOL_DEFAULTS = {"active": True, "sync_to_van": False, "include_in_csv": False}
WEBHOOK_FIELDS = ("report_webhook_env", "success_webhook_env", "failure_webhook_env")
INSTANCE_FIELDS = (("daily_free_requests", "int"), ("daily_paid_budget_usd", "number"), ("usd_per_request", "number"))
MAX_ROWS = 150  # ~10 fields a row: within the app's 2,000 form fields
BLANK_ROWS = 2  # empty result rows under the existing ones (the page's script adds more)

_INT = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_PAIR = re.compile(r"^(\d+)\s*:\s*(\d+)$")
_SPLIT = re.compile(r"[,;\s]+")


def looks_like_url(value) -> bool:
    """A webhook URL typed where a variable NAME belongs: never shown back (it is a bearer secret)."""
    text = str(value or "").strip()
    return "://" in text or text.lower().startswith("hooks.")


# -- reading typed form text ---------------------------------------------------------------------------------------
def _int(text: str):
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if _INT.match(text) else text


def _number(text: str):
    text = (text or "").strip()
    if not text:
        return None
    return float(text) if _NUMBER.match(text) else text


def _ids(text: str):
    items = [t for t in _SPLIT.split((text or "").strip()) if t]
    return [int(t) if _INT.match(t) else t for t in items] or None


def _pairs(text: str):
    """``109149:465468, 109150:465473`` -> [[109149, 465468], [109150, 465473]] (a malformed pair stays as typed,
    so the store's validation names it: ``responses[1]``)."""
    items = [t for t in re.split(r"[,;\n]+", (text or "").strip()) if t.strip()]
    out = []
    for t in items:
        m = _PAIR.match(t.strip())
        out.append([int(m.group(1)), int(m.group(2))] if m else t.strip())
    return out or None


def _tri(text: str):
    return {"true": True, "false": False}.get((text or "").strip().lower())


# -- showing values in the form --------------------------------------------------------------------------------
def _show(value, kind: str):
    if kind == "bool":
        return bool(value)
    if value is None:
        return ""
    if kind == "tri":
        return "true" if value is True else "false" if value is False else str(value)
    if kind == "ids":
        return ", ".join(str(v) for v in (value if isinstance(value, list) else [value]))
    if kind == "pairs":
        if not isinstance(value, list):
            return str(value)
        return ", ".join(_pair_text(p) for p in value)
    return str(value)


def _pair_text(pair) -> str:
    if isinstance(pair, dict) and set(pair) == {"question", "response"}:  # the import format's other spelling
        pair = [pair["question"], pair["response"]]
    return f"{pair[0]}:{pair[1]}" if isinstance(pair, list | tuple) and len(pair) == 2 else str(pair)


@dataclass
class CandidateForm:
    """What the candidate form shows: text as typed (or as stored), checkboxes as booleans, one row per result."""

    slug: str
    values: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    rows_sent: int = 0  # how many result rows the browser said it sent (more than MAX_ROWS: refused, not cut)

    def with_blank_rows(self, n: int = BLANK_ROWS) -> CandidateForm:
        """At least ``n`` empty rows at the end; the rows keep their indexes (problems are placed by index)."""
        trailing = 0
        for row in reversed(self.rows):
            if not _blank(row):
                break
            trailing += 1
        rows = [dict(r) for r in self.rows] + [blank_row() for _ in range(max(0, n - trailing))]
        return CandidateForm(self.slug, dict(self.values), rows, self.rows_sent)


def blank_row() -> dict:
    return {"key": "", **{name: _show(None, kind) for name, kind in RULE_COLUMNS}, "delete": False}


def _blank(row: dict) -> bool:
    return not row.get("key", "").strip() and not any(
        (row.get(name) if kind == "bool" else str(row.get(name) or "").strip()) for name, kind in RULE_COLUMNS
    )


def form_from_body(slug: str, body: dict | None) -> CandidateForm:
    body = body or {}
    values = {
        name: _show(body.get(name, BOOL_DEFAULTS.get(name)), kind) if kind == "bool" else _show(body.get(name), kind)
        for name, kind in CANDIDATE_SCALARS
    }
    rows = []
    for key, rule in (body.get("results") or {}).items():
        rule = rule if isinstance(rule, dict) else {}
        row = {"key": str(key), "delete": False}
        for name, kind in RULE_COLUMNS:
            row[name] = _show(rule.get(name, BOOL_DEFAULTS.get(name)), kind)
        rows.append(row)
    return CandidateForm(slug, values, rows)


def form_from_post(fields: dict) -> CandidateForm:
    """The submitted form (``ctx.form``): scalar fields by name, result rows as ``r-<i>-<column>``."""
    values = {}
    for name, kind in CANDIDATE_SCALARS:
        values[name] = name in fields if kind == "bool" else str(fields.get(name) or "")
    try:
        sent = max(int(fields.get("rows") or 0), 0)
    except ValueError:
        sent = 0
    rows = []
    for i in range(min(sent, MAX_ROWS)):
        row = {"key": str(fields.get(f"r-{i}-key") or ""), "delete": f"r-{i}-delete" in fields}
        for name, kind in RULE_COLUMNS:
            row[name] = f"r-{i}-{name}" in fields if kind == "bool" else str(fields.get(f"r-{i}-{name}") or "")
        rows.append(row)
    return CandidateForm(str(fields.get("slug") or "").strip(), values, rows, sent)


def draft_from_form(form: CandidateForm, original: dict | None = None) -> tuple[dict, list[FieldError], dict]:
    """The candidate document the form describes, the problems only the form can see (with field paths in the
    validation's style), and ``{result key: row index}`` to place the store's errors next to their row.

    Checkboxes are written on a new candidate or result; on a stored one, a box left at its default is not written
    when the document did not have it (no false change in the history)."""
    original = original if isinstance(original, dict) else {}
    draft: dict = {}
    for name, kind in CANDIDATE_SCALARS:
        raw = form.values.get(name)
        if kind == "bool":
            if not original or name in original or raw != BOOL_DEFAULTS[name]:
                draft[name] = bool(raw)
        elif kind == "int":
            value = _int(raw)
            if value is not None:
                draft[name] = value
        elif str(raw or "").strip():
            draft[name] = str(raw).strip()
    errors: list[FieldError] = []
    if form.rows_sent > MAX_ROWS:
        errors.append(
            FieldError(
                "results",
                f"at most {MAX_ROWS} result rows can be edited here (the form sent "
                f"{form.rows_sent}); use `orgsync calls config import` for more",
            )
        )
    results: dict = {}
    row_of: dict[str, int] = {}
    old_rules = original.get("results") if isinstance(original.get("results"), dict) else {}
    for i, row in enumerate(form.rows):
        if row.get("delete") or _blank(row):
            continue
        key = normalize_result(row.get("key"))
        if not key:
            errors.append(FieldError(f"results[#{i}]", "an on-screen result needs a name (or tick 'remove')"))
            continue
        if key in results:
            errors.append(
                FieldError(
                    f"results[#{i}]",
                    f"{key!r} is listed twice (names are compared in lower case, single spaces, without a '(...)' "
                    "suffix)",
                )
            )
            continue
        old = old_rules.get(key) if isinstance(old_rules.get(key), dict) else None
        rule: dict = {}
        for name, kind in RULE_COLUMNS:
            raw = row.get(name)
            if kind == "bool":
                if old is None or name in old or raw != BOOL_DEFAULTS[name]:
                    rule[name] = bool(raw)
                continue
            value = {"text": lambda t: str(t or "").strip() or None, "tri": _tri, "int": _int, "ids": _ids}.get(
                kind, _pairs
            )(raw)
            if kind == "tri" and value is None and str(raw or "").strip():
                value = str(raw).strip()
            if value is not None:
                rule[name] = value
        results[key] = rule
        row_of[key] = i
    if results or form.rows:
        draft["results"] = results
    return draft, errors, row_of


# -- where each problem is shown -----------------------------------------------------------------------------------
def slot_of(path: str, row_of: dict[str, int]) -> str:
    """The form field a validation path belongs to: ``sync_hour`` -> ``sync_hour``; ``results['busy'].value`` ->
    ``r3-value`` (the row showing 'busy'); ``results['busy']`` -> ``r3``; ``results[#3]`` (the form's own) -> ``r3``;
    anything else (a whole-document problem) -> ``""`` (shown above the form only)."""
    path = path or ""
    if path.startswith("results[#"):
        m = re.match(r"^results\[#(\d+)\]", path)
        return f"r{m.group(1)}" if m else ""
    if path.startswith("results["):
        for key, i in sorted(row_of.items(), key=lambda kv: -len(kv[0])):
            prefix = f"results[{key!r}]"
            if path == prefix:
                return f"r{i}"
            if path.startswith(prefix + "."):
                rest = path[len(prefix) + 1 :]
                name = re.match(r"^(\w+)", rest)
                column = name.group(1) if name else ""
                return f"r{i}-{column}" if column in dict(RULE_COLUMNS) else f"r{i}"
        return "results"
    name = re.match(r"^(\w+)", path)
    if name and (name.group(1) in dict(CANDIDATE_SCALARS) or name.group(1) in ("slug", "results", "name")):
        return name.group(1)
    if name and name.group(1) in dict(INSTANCE_FIELDS):
        return name.group(1)
    return ""


def by_slot(errors: list[FieldError], row_of: dict[str, int] | None = None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in errors:
        out.setdefault(slot_of(e.field, row_of or {}), []).append(e.message)
    return out


def label_of(path: str, form: CandidateForm | None = None) -> str:
    """A problem's field as people read it: ``results[#3]`` names the row."""
    m = re.match(r"^results\[#(\d+)\](.*)$", path or "")
    if m:
        return f"result row {int(m.group(1)) + 1}{m.group(2)}"
    return path or "(the whole candidate)"


# -- conflicts: what the person had typed that differs from the current document ---------------------------------
def changes(current, mine, path: str = "") -> list[dict]:
    """Field-level differences (``results['busy'].value``) between two documents; lists compared whole."""
    if isinstance(current, dict) and isinstance(mine, dict):
        out = []
        for key in list(current) + [k for k in mine if k not in current]:
            sub = f"{path}[{key!r}]" if path == "results" else (f"{path}.{key}" if path else str(key))
            out += changes(current.get(key), mine.get(key), sub)
        return out
    return [] if current == mine else [{"field": path, "current": current, "mine": mine}]


# -- the VAN instance (budget) form ----------------------------------------------------------------------------
def instance_values(body: dict | None) -> dict:
    body = body or {}
    return {name: _show(body.get(name), kind) for name, kind in INSTANCE_FIELDS}


def instance_values_from_post(fields: dict) -> dict:
    return {name: str(fields.get(name) or "") for name, _kind in INSTANCE_FIELDS}


def instance_draft(values: dict) -> dict:
    draft = {}
    for name, kind in INSTANCE_FIELDS:
        value = (_int if kind == "int" else _number)(values.get(name))
        if value is not None:
            draft[name] = value
    return draft


def show_value(value) -> str:
    """A configuration value in a history or conflict line (as it reads in the YAML)."""
    from orgsync_dagster.calls import yaml_format

    if value is None:
        return "(not set)"
    try:
        return yaml_format.flow(value)
    except (TypeError, ValueError):
        return repr(value)
