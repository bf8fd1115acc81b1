"""Staff: the calls configuration (issue 9) - candidates, VAN instance budgets and term codes kept in the warehouse
(``calls.config_store``), edited here without a deploy. The next calls run reads what is saved here.

Who: the data team (rank DATA) only, checked on the server for every page and every POST. A candidate's
configuration decides what is written to VAN for real people and what a VAN key may spend; it is not tied to a
region or an office, so a field director's rights (their region) would not bound it.

Every save goes through ``ConfigStore.save_*``: the same validation as the ``candidate_config_valid`` check
(every problem at once, each shown next to its field, the draft kept), optimistic versions (a stale form is refused
with who saved meanwhile and the current values), and every change in the history (who, when, field old -> new).
"""

from __future__ import annotations

import datetime as dt
import functools
from urllib.parse import quote

from orgsync_dagster.calls import yaml_format
from orgsync_dagster.calls.config import (
    CDR_DATE_ORDERS,
    MODE_NAMES,
    STRATEGIES,
    VAN_MODES,
    CallsConfigError,
    parse_candidate,
    parse_deployment,
    parse_instance,
)
from orgsync_dagster.calls.config_store import ConfigConflict, ConfigInvalid, ConfigStore
from orgsync_dagster.lib import config as cfg
from orgsync_dagster.shifts import tracker_store
from orgsync_dagster.web.pages import calls_config_form as forms
from orgsync_dagster.web.registry import page, ranks

CALLS_CONFIG = ranks("DATA")
HOME = "/staff/calls"
COMMON_TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
)

STRATEGY_HELP = (
    "full: every result marked 'to VAN' goes to VAN, over the budget calls wait for the next run; hybrid: the "
    "highest hybrid values go to VAN within the budget, the rest to the CSV; all_csv: no VAN, every call to the CSV"
)
DATE_ORDER_HELP = {"month_first": "month first (03/04 = 4 March)", "day_first": "day first (03/04 = 3 April)"}


class _Unusable(Exception):
    """The deployment's configuration file cannot be read: the page says so instead of failing with a traceback."""


def _guard(handler):
    @functools.wraps(handler)
    def wrapped(ctx):
        try:
            return handler(ctx)
        except _Unusable as exc:
            return ctx.render("error.html", status_code=500, status=500, message=str(exc))

    return wrapped


def _store(ctx) -> ConfigStore:
    try:
        deployment = parse_deployment(cfg.section("calls"))
    except (CallsConfigError, cfg.ConfigError) as exc:
        raise _Unusable(f"the calls section of the configuration file (ORGSYNC_CONFIG) is not usable: {exc}") from None
    return ConfigStore(ctx.engine, deployment)


def _candidate_url(slug: str, tail: str = "") -> str:
    return f"{HOME}/candidates/{quote(slug, safe='')}{tail}"


def _instance_url(name: str, tail: str = "") -> str:
    return f"{HOME}/instances/{quote(name, safe='')}{tail}"


def _version(ctx) -> int:
    try:
        return int(ctx.form.get("version") or "")
    except ValueError:
        raise tracker_store.TrackerInputError(
            "the form has no version: reload the page and make your change again"
        ) from None


def _when(value) -> str:
    if not isinstance(value, dt.datetime):
        return ""
    return (value.astimezone(dt.UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M UTC")


def _conflict_message(exc: ConfigConflict, fresh, what: str) -> str:
    if fresh is None or exc.current is None:
        return f"Not saved: {what} does not exist any more. Nothing was changed."
    done = "removed it" if fresh.removed else f"saved version {exc.current}"
    return (
        f"Not saved: {exc.updated_by} {done} at {_when(exc.updated_at)}, after you opened version {exc.expected}. "
        f"The form now shows the current values (version {exc.current}); what you had typed that differs is listed "
        "below: make your change again and save."
    )


# -- the section -------------------------------------------------------------------------------------------------
@page(HOME, name="calls.config", title="Calls configuration", section="Staff", permission=CALLS_CONFIG, order=80)
@_guard
def calls_config(ctx):
    store = _store(ctx)
    docs = store.list_candidates(include_removed=True)
    candidates = [d for d in docs if not d.removed]
    found = {d.name: problems(store, d.body, d.name) for d in candidates}
    instances = store.list_instances()
    budgets = {d.name: parse_instance(d.name, d.body)[0] for d in instances}
    users = {d.name: [c.name for c in candidates if (c.body or {}).get("van_instance") == d.name] for d in instances}
    return ctx.render(
        "calls_config.html",
        candidates=candidates,
        removed=[d for d in docs if d.removed],
        problems=found,
        instances=instances,
        budgets=budgets,
        instance_users=users,
        missing_instances=[s for s in ctx.app.states if s not in budgets],
        term_codes=store.get_term_codes(),
        mode_names={"myc": "MyCampaign", "van": "MyVoters"},
        when=_when,
        candidate_url=_candidate_url,
        instance_url=_instance_url,
    )


# -- one candidate -------------------------------------------------------------------------------------------------
def _render_candidate(
    ctx,
    store: ConfigStore,
    form: forms.CandidateForm,
    *,
    doc,
    version: int,
    errors=(),
    row_of=None,
    status_code: int = 200,
    stored_problems: bool = False,
    conflict: str | None = None,
    mine: list | None = None,
    checked: bool = False,
):
    creating = doc is None
    form = form.with_blank_rows()
    row_of = row_of if row_of is not None else _rows_by_key(form)
    for name in forms.WEBHOOK_FIELDS:  # a URL typed here is a secret: never sent back to the browser
        if forms.looks_like_url(form.values.get(name)):
            form.values[name] = ""
    instance_names = [d.name for d in store.list_instances()]
    current_instance = form.values.get("van_instance") or ""
    if current_instance and current_instance not in instance_names:
        instance_names.append(current_instance)
    mode = VAN_MODES.get(str(form.values.get("van_mode") or "myc").lower(), 1)
    ref = store.reference_data(current_instance, mode) if current_instance else None
    copyable = [d.name for d in store.list_candidates()] if creating else []
    return ctx.render(
        "calls_candidate.html",
        status_code=status_code,
        form=form,
        doc=doc,
        version=version,
        creating=creating,
        slots=forms.by_slot(list(errors), row_of),
        errors=[(forms.label_of(e.field), forms.slot_of(e.field, row_of), e.message) for e in errors],
        stored_problems=stored_problems,
        conflict=conflict,
        mine=mine or [],
        checked=checked,
        instance_options=[(n, n) for n in instance_names],
        strategies=[(s, s) for s in STRATEGIES],
        strategy_help=STRATEGY_HELP,
        modes=[(name, {"myc": "MyCampaign (|1)", "van": "MyVoters (|0)"}[name]) for name in MODE_NAMES.values()],
        date_orders=[(o, DATE_ORDER_HELP.get(o, o)) for o in CDR_DATE_ORDERS],
        timezones=COMMON_TIMEZONES,
        ref=ref,
        ref_mode=MODE_NAMES[mode],
        copyable=copyable,
        show=forms.show_value,
        when=_when,
        action=f"{HOME}/new-candidate" if creating else _candidate_url(form.slug),
        candidate_url=_candidate_url,
        home=HOME,
    )


def _rows_by_key(form: forms.CandidateForm) -> dict[str, int]:
    from orgsync_dagster.calls.config import normalize_result

    out: dict[str, int] = {}
    for i, row in enumerate(form.rows):
        key = normalize_result(row.get("key"))
        if key and not row.get("delete"):
            out.setdefault(key, i)
    return out


def _doc_or_404(store: ConfigStore, slug: str):
    doc = store.get_candidate(slug)
    if doc is None:
        raise tracker_store.NotFound(f"there is no candidate {slug!r} in the calls configuration")
    return doc


# Problems that keep the VAN ids from being checked in the same pass: without them the ids cannot be read.
_VAN_INPUTS = {"", "slug", "strategy", "van_instance", "van_mode", "contact_type_id", "input_type_id"}


def problems(store: ConfigStore, draft: dict, slug: str) -> list:
    """Every problem of a draft at once. ``validate_candidate`` (the ``candidate_config_valid`` validation) checks
    the VAN ids and the district only once the document's shape is valid; so when the shape has problems that do
    not touch what the VAN check reads, the draft is checked a second time without the fields (and result rows)
    in error, and the problems that pass finds (a VAN id, a district taken) are added: one round trip for all."""
    first = store.validate_candidate(draft, slug)
    if not first or not isinstance(draft, dict):
        return first
    instances = {d.name for d in store.list_instances()}
    canonical = yaml_format.canonical_candidate(draft)
    shape_ok = parse_candidate(slug, canonical, instances=instances, deployment=store.deployment)[0] is not None
    if shape_ok or any(e.field == "results" or _top(e.field) in _VAN_INPUTS for e in first):
        return first
    partial = dict(canonical)
    results = dict(partial.get("results") or {})
    for e in first:
        if e.field.startswith("results["):
            for key in list(results):
                if e.field == f"results[{key!r}]" or e.field.startswith(f"results[{key!r}]."):
                    del results[key]
        else:
            partial.pop(_top(e.field), None)
    dropped_rules = len(results) < len(partial.get("results") or {})
    partial["results"] = results
    seen = {(e.field, e.message) for e in first}
    more = [
        e
        for e in store.validate_candidate(partial, slug)
        if (e.field, e.message) not in seen and not (dropped_rules and e.field == "results")
    ]
    return first + more


def _top(path: str) -> str:
    for i, ch in enumerate(path or ""):
        if ch in ".[":
            return path[:i]
    return path or ""


@page(HOME + "/candidates/{slug}", name="calls.candidate", permission=CALLS_CONFIG)
@_guard
def candidate_page(ctx):
    slug = ctx.request.path_params["slug"]
    store = _store(ctx)
    doc = _doc_or_404(store, slug)
    form = forms.form_from_body(slug, doc.body)
    stored = [] if doc.removed else problems(store, doc.body, slug)
    return _render_candidate(ctx, store, form, doc=doc, version=doc.version, errors=stored, stored_problems=True)


@page(HOME + "/candidates/{slug}", name="calls.candidate.save", methods=("POST",), permission=CALLS_CONFIG)
@_guard
def candidate_save(ctx):
    slug = ctx.request.path_params["slug"]
    store = _store(ctx)
    doc = _doc_or_404(store, slug)
    form = forms.form_from_post(ctx.form)
    form.slug = slug
    return _save(ctx, store, form, doc, _version(ctx))


@page(HOME + "/new-candidate", name="calls.candidate.new", permission=CALLS_CONFIG)
@_guard
def candidate_new(ctx):
    store = _store(ctx)
    d = store.deployment
    body = {
        "active": True,
        "van_mode": "myc",
        "strategy": "full",
        "timezone": d.timezone,
        "sync_hour": d.default_sync_hour,
        "contact_type_id": 1,
        "input_type_id": 11,
    }
    source = ctx.request.query_params.get("from")
    if source:
        other = _doc_or_404(store, source)
        personal = ("display_name", "district", "report_channel", *forms.WEBHOOK_FIELDS)
        body = {k: v for k, v in (other.body or {}).items() if k not in personal}
    return _render_candidate(ctx, store, forms.form_from_body("", body), doc=None, version=0)


@page(HOME + "/new-candidate", name="calls.candidate.create", methods=("POST",), permission=CALLS_CONFIG)
@_guard
def candidate_create(ctx):
    store = _store(ctx)
    form = forms.form_from_post(ctx.form)
    existing = store.get_candidate(form.slug) if form.slug else None
    if existing is not None:
        what = "was removed" if existing.removed else "already exists"
        hint = "open it to restore it (its history continues)" if existing.removed else "open it to edit it"
        message = (
            f"Not saved: a candidate {form.slug!r} {what} (version {existing.version}, by {existing.updated_by} at "
            f"{_when(existing.updated_at)}): {hint}."
        )
        return _render_candidate(ctx, store, form, doc=None, version=0, status_code=409, conflict=message)
    return _save(ctx, store, form, None, 0)


def _save(ctx, store: ConfigStore, form: forms.CandidateForm, doc, expected: int):
    """Check (``action=check``) or save a candidate form; every problem shown next to its field, the draft kept."""
    slug = form.slug
    draft, form_errors, row_of = forms.draft_from_form(form, doc.body if doc else None)
    errors = form_errors + problems(store, draft, slug)
    if errors or ctx.form.get("action") == "check":
        return _render_candidate(
            ctx,
            store,
            form,
            doc=doc,
            version=expected,
            errors=errors,
            row_of=row_of,
            status_code=400 if errors else 200,
            checked=not errors,
        )
    try:
        version = store.save_candidate(slug, draft, by=ctx.user.email, expected_version=expected)
    except ConfigInvalid as exc:
        return _render_candidate(
            ctx, store, form, doc=doc, version=expected, errors=exc.errors, row_of=row_of, status_code=400
        )
    except ConfigConflict as exc:
        fresh = store.get_candidate(slug)
        if fresh is None:
            return _render_candidate(
                ctx, store, form, doc=None, version=0, status_code=409, conflict=_conflict_message(exc, None, slug)
            )
        mine = forms.changes(fresh.body, yaml_format.canonical_candidate(draft))
        return _render_candidate(
            ctx,
            store,
            forms.form_from_body(slug, fresh.body),
            doc=fresh,
            version=fresh.version,
            status_code=409,
            conflict=_conflict_message(exc, fresh, f"candidate {slug!r}"),
            mine=mine,
        )
    if doc is not None and version == expected:
        return ctx.redirect(_candidate_url(slug), f"Nothing changed: {slug} stays at version {version}.")
    what = "created" if doc is None else ("restored" if doc.removed else "saved")
    return ctx.redirect(
        _candidate_url(slug), f"Candidate {slug} {what}: version {version}. The next run of {slug} uses it."
    )


@page(HOME + "/candidates/{slug}/remove", name="calls.candidate.remove.confirm", permission=CALLS_CONFIG)
@_guard
def candidate_remove_confirm(ctx):
    slug = ctx.request.path_params["slug"]
    store = _store(ctx)
    doc = _doc_or_404(store, slug)
    if doc.removed:
        return ctx.redirect(_candidate_url(slug), f"{slug} is already removed; saving it restores it.")
    return ctx.render("calls_remove.html", doc=doc, when=_when, candidate_url=_candidate_url, home=HOME)


@page(HOME + "/candidates/{slug}/remove", name="calls.candidate.remove", methods=("POST",), permission=CALLS_CONFIG)
@_guard
def candidate_remove(ctx):
    slug = ctx.request.path_params["slug"]
    store = _store(ctx)
    _doc_or_404(store, slug)
    expected = _version(ctx)
    try:
        version = store.remove_candidate(slug, by=ctx.user.email, expected_version=expected)
    except ConfigConflict as exc:
        fresh = store.get_candidate(slug)
        message = _conflict_message(exc, fresh, f"candidate {slug!r}").replace(
            "The form now shows the current values", "This page now shows the current version"
        )
        return ctx.render(
            "calls_remove.html",
            status_code=409,
            doc=fresh,
            conflict=message,
            when=_when,
            candidate_url=_candidate_url,
            home=HOME,
        )
    return ctx.redirect(
        HOME,
        f"Candidate {slug} removed (version {version}): it is no longer synced. Its history, reports and ledger stay; "
        "open it under 'Removed candidates' to restore it.",
    )
