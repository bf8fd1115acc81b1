"""Staff: the calls configuration's change history pages and the VAN instance budget pages (see calls_config.py for
who may use them and how a save is validated, versioned and recorded)."""

from __future__ import annotations

from orgsync_dagster.calls.config import (
    parse_instance,
)
from orgsync_dagster.calls.config_store import ConfigConflict, ConfigInvalid, ConfigStore
from orgsync_dagster.shifts import tracker_store
from orgsync_dagster.web.pages import calls_config_form as forms
from orgsync_dagster.web.pages.calls_config import (
    CALLS_CONFIG,
    HOME,
    _candidate_url,
    _conflict_message,
    _guard,
    _instance_url,
    _store,
    _version,
    _when,
)
from orgsync_dagster.web.registry import page


# -- history -------------------------------------------------------------------------------------------------------
def _history(ctx, kind: str, name: str, title: str, back: str):
    store = _store(ctx)
    entries = store.history(name, kind=kind)
    if not entries:
        raise tracker_store.NotFound(f"no history for {title}")
    return ctx.render(
        "calls_history.html",
        title=title,
        back=back,
        entries=list(reversed(entries)),
        show=forms.show_value,
        when=_when,
        home=HOME,
    )


@page(HOME + "/candidates/{slug}/history", name="calls.candidate.history", permission=CALLS_CONFIG)
@_guard
def candidate_history(ctx):
    slug = ctx.request.path_params["slug"]
    return _history(ctx, "candidate", slug, f"candidate {slug}", _candidate_url(slug))


@page(HOME + "/instances/{name}/history", name="calls.instance.history", permission=CALLS_CONFIG)
@_guard
def instance_history(ctx):
    name = ctx.request.path_params["name"]
    return _history(ctx, "van_instance", name, f"VAN instance {name}", _instance_url(name))


@page(HOME + "/term-codes/history", name="calls.term_codes.history", permission=CALLS_CONFIG)
@_guard
def term_codes_history(ctx):
    return _history(ctx, "term_codes", "default", "the term codes", HOME)


# -- VAN instance budgets ------------------------------------------------------------------------------------------
DEFAULT_BUDGET = {"daily_free_requests": 1000, "daily_paid_budget_usd": 0.0, "usd_per_request": 0.01}


def _instance_or_404(ctx, store: ConfigStore, name: str):
    doc = store.get_instance(name)
    if doc is None and name not in ctx.app.states:
        raise tracker_store.NotFound(f"there is no VAN instance {name!r} (configured: {', '.join(ctx.app.states)})")
    return doc


def _render_instance(ctx, store, name, doc, values, *, version, errors=(), status_code=200, conflict=None, mine=()):
    inst, _problems = parse_instance(name, forms.instance_draft(values))
    users = [c.name for c in store.list_candidates() if (c.body or {}).get("van_instance") == name]
    return ctx.render(
        "calls_instance.html",
        status_code=status_code,
        name=name,
        doc=doc,
        values=values,
        version=version,
        budget=inst,
        used_by=users,
        slots=forms.by_slot(list(errors)),
        errors=[(e.field or "(the whole budget)", forms.slot_of(e.field, {}), e.message) for e in errors],
        conflict=conflict,
        mine=list(mine),
        show=forms.show_value,
        when=_when,
        action=_instance_url(name),
        instance_url=_instance_url,
        home=HOME,
    )


@page(HOME + "/instances/{name}", name="calls.instance", permission=CALLS_CONFIG)
@_guard
def instance_page(ctx):
    name = ctx.request.path_params["name"]
    store = _store(ctx)
    doc = _instance_or_404(ctx, store, name)
    values = forms.instance_values(doc.body if doc and not doc.removed else DEFAULT_BUDGET)
    return _render_instance(ctx, store, name, doc, values, version=doc.version if doc else 0)


@page(HOME + "/instances/{name}", name="calls.instance.save", methods=("POST",), permission=CALLS_CONFIG)
@_guard
def instance_save(ctx):
    name = ctx.request.path_params["name"]
    store = _store(ctx)
    doc = _instance_or_404(ctx, store, name)
    expected = _version(ctx)
    values = forms.instance_values_from_post(ctx.form)
    draft = forms.instance_draft(values)
    try:
        version = store.save_instance(name, draft, by=ctx.user.email, expected_version=expected)
    except ConfigInvalid as exc:
        return _render_instance(ctx, store, name, doc, values, version=expected, errors=exc.errors, status_code=400)
    except ConfigConflict as exc:
        fresh = store.get_instance(name)
        mine = forms.changes(fresh.body or {}, draft) if fresh else []
        return _render_instance(
            ctx,
            store,
            name,
            fresh,
            forms.instance_values(fresh.body if fresh else DEFAULT_BUDGET),
            version=fresh.version if fresh else 0,
            status_code=409,
            conflict=_conflict_message(exc, fresh, f"VAN instance {name!r}"),
            mine=mine,
        )
    if doc is not None and not doc.removed and version == expected:
        return ctx.redirect(_instance_url(name), f"Nothing changed: VAN {name} stays at version {version}.")
    inst, _ = parse_instance(name, draft)
    return ctx.redirect(
        HOME,
        f"VAN {name} budget saved (version {version}): {inst.describe() if inst else ''}. The next run uses it.",
    )
