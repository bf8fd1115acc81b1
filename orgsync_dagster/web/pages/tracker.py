"""The organizers' tracker: Same Day Confirms, Flake Chase, KPH (canvass groups), Walk-ins, Review, the Dashboard
and volunteer history, per office (a region or a state rolls its offices up). Every read and write goes through
``shifts.tracker_store`` with the user's permission; every edit is optimistic (row versions) and audited."""

from __future__ import annotations

import datetime as dt

from starlette.responses import JSONResponse, Response

from orgsync_dagster.shifts import tracker, tracker_store
from orgsync_dagster.shifts.tracker import TrackerInputError
from orgsync_dagster.web.registry import DASHBOARD, LOGGED_IN, SCOPE, page

ROW_TEMPLATES = {"shift": "_shift_row.html", "canvass_group": "_group.html"}


# -- shared ------------------------------------------------------------------------------------------------------
def _day_view(ctx) -> tuple[dt.date, bool]:
    """The day shown and whether it is archived (read from the nightly backup, read-only)."""
    day = ctx.day()
    with ctx.engine.connect() as conn:
        archived = tracker_store.is_archived(conn, day, ctx.scope.state)
    return day, archived


def _shifts(ctx, day, archived, page_name):
    with ctx.engine.connect() as conn:
        rows = tracker_store.day_shifts(conn, day, ctx.scope, archived=archived)
    return [r for r in rows if tracker.on_page(r, page_name)]


def _row_html(ctx, entity: str, row: dict, page_name: str, **extra) -> str:
    if entity == "shift":
        return ctx.render_text("_shift_row.html", r=row, page=page_name, readonly=False, **extra)
    with ctx.engine.connect() as conn:
        eligible = _eligible(conn, ctx, row["day"]) if row.get("is_active") else []
    return ctx.render_text("_group.html", g=row, readonly=False, eligible=eligible, now=_now(), **extra)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _eligible(conn, ctx, day) -> list[dict]:
    """Shifts that may join a canvass group: In / Same Day Confirmed, in no active group (the page's scope)."""
    rows = tracker_store.day_shifts(conn, day, ctx.scope)
    return [r for r in rows if tracker.member_problem(r) is None and r.get("office")]


def _edit_response(ctx, entity: str, fn, page_name: str, ok_message: str | None = None) -> Response:
    """Run one edit; JSON for the page's script (the row re-rendered), a redirect with a message for a plain form."""
    try:
        row = fn()
    except tracker_store.Conflict as exc:
        message = f"Not saved: {exc} in the meantime. The row now shows the current values; make your change again."
        if ctx.wants_json:
            return JSONResponse(
                {"ok": False, "conflict": True, "error": message, "html": _row_html(ctx, entity, exc.row, page_name)},
                status_code=409,
            )
        return ctx.back(message, "error")
    if ctx.wants_json:
        return JSONResponse(
            {
                "ok": True,
                "id": row["id"],
                "version": row["version"],
                "message": ok_message,
                "html": _row_html(ctx, entity, row, page_name),
            }
        )
    return ctx.back(ok_message)


def _common(ctx, day, archived, **values):
    return {
        "day": day,
        "archived": archived,
        "is_today": day == ctx.today,
        "scopes": ctx.visible_scopes(),
        **values,
    }


# -- pages ---------------------------------------------------------------------------------------------------------
@page("/t/{state}/sdc", name="tracker.sdc", permission=SCOPE, title="Same Day Confirms", order=10)
def sdc(ctx):
    day, archived = _day_view(ctx)
    rows = _shifts(ctx, day, archived, "sdc")
    return ctx.render("sdc.html", **_common(ctx, day, archived, rows=rows, page="sdc"))


@page("/t/{state}/flake", name="tracker.flake", permission=SCOPE, title="Flake Chase", order=20)
def flake(ctx):
    day, archived = _day_view(ctx)
    rows = _shifts(ctx, day, archived, "flake")
    return ctx.render("flake.html", **_common(ctx, day, archived, rows=rows, page="flake"))


@page("/t/{state}/kph", name="tracker.kph", permission=SCOPE, title="KPH", order=30)
def kph(ctx):
    day, archived = _day_view(ctx)
    with ctx.engine.connect() as conn:
        groups = tracker_store.day_groups(conn, day, ctx.scope, archived=archived)
        eligible = [] if archived else _eligible(conn, ctx, day)
    offices = sorted({r["office"] for r in eligible})
    return ctx.render(
        "kph.html",
        **_common(ctx, day, archived, groups=groups, eligible=eligible, offices=offices, page="kph", now=_now()),
    )


@page("/t/{state}/walkins", name="tracker.walkins", permission=SCOPE, title="Walk-ins", order=40)
def walkins(ctx):
    day, archived = _day_view(ctx)
    rows = [r for r in _shifts(ctx, day, archived, "sdc") if r["source"] == "walk_in"]
    return ctx.render("walkins.html", **_common(ctx, day, archived, rows=rows, page="walkins", offices=_offices(ctx)))


def _offices(ctx) -> list[str]:
    if ctx.scope.office:
        return [ctx.scope.office]
    with ctx.engine.connect() as conn:
        known = tracker_store.offices(conn, ctx.scope.state)
    return sorted(
        {
            o["office"]
            for o in known
            if ctx.scope.contains(o["instance"], o["office"], o["region"] or ctx.app.region_of(o["office"]))
            and ctx.allowed(o["instance"], o["office"], o["region"])
        }
    )


@page("/t/{state}/walkins", name="tracker.walkins.add", methods=("POST",), permission=SCOPE)
def walkins_add(ctx):
    office = ctx.form.get("office") or ctx.scope.office
    if office not in _offices(ctx):
        raise TrackerInputError("choose one of your offices for the walk-in")
    walk_in = tracker.parse_walk_in(ctx.form, ctx.settings)
    row, reused = tracker_store.add_walk_in(
        ctx.engine, ctx.settings, ctx.actor(), ctx.day(), ctx.scope.state, office, walk_in, ctx.allowed
    )
    who = f"{walk_in.first_name} {walk_in.last_name}"
    message = f"{who} is In at {walk_in.slot:%H:%M} ({'known volunteer' if reused else 'new volunteer'})"
    if ctx.wants_json:
        return JSONResponse({"ok": True, "message": message, "id": row["id"]})
    return ctx.back(message)


@page("/t/{state}/review", name="tracker.review", permission=SCOPE, title="Review", order=50)
def review(ctx):
    day, archived = _day_view(ctx)
    with ctx.engine.connect() as conn:
        rows = tracker_store.review_rows(conn, day, ctx.scope, ctx.settings, archived=archived)
    order = ["to_review", "changed", "walk_in", "approved", "failed", "not_matched", "sent", "in_van"]
    rows.sort(key=lambda r: (order.index(r["review_state"]) if r["review_state"] in order else 99, r["starts_at"]))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["review_state"]] = counts.get(r["review_state"], 0) + 1
    return ctx.render("review.html", **_common(ctx, day, archived, rows=rows, counts=counts, page="review"))


@page("/t/{state}/review", name="tracker.review.decide", methods=("POST",), permission=SCOPE)
def review_decide(ctx):
    action = ctx.form.get("action")
    if action not in ("approve", "unapprove"):
        raise TrackerInputError("choose approve or withdraw")
    items = []
    for raw in ctx.form_lists.get("shift", []):
        try:
            shift_id, version = (int(x) for x in raw.split(":", 1))
        except ValueError:
            raise TrackerInputError("the review form is damaged; reload the page") from None
        items.append((shift_id, version))
    if not items:
        raise TrackerInputError("tick the shifts to approve first")
    result = tracker_store.set_approval(
        ctx.engine, ctx.settings, ctx.actor(), items, ctx.allowed, approve=action == "approve"
    )
    verb = "approved for VAN" if action == "approve" else "approval withdrawn"
    parts = [f"{len(result['done'])} shift(s) {verb}"]
    if result["conflicts"]:
        parts.append(f"{len(result['conflicts'])} changed by someone else meanwhile (check them again)")
    for r in result["refused"]:
        parts.append(f"shift {r['id']}: {r['reason']}")
    kind = "info" if not result["conflicts"] and not result["refused"] else "error"
    if ctx.wants_json:
        return JSONResponse(
            {"ok": kind == "info", "message": "; ".join(parts), **{k: len(v) for k, v in result.items()}}
        )
    return ctx.back("; ".join(parts), kind)


# -- edits ---------------------------------------------------------------------------------------------------------
def _int(raw, what: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise TrackerInputError(f"{what} must be a number") from None


@page("/t/{state}/shift/{shift_id:int}", name="tracker.shift.edit", methods=("POST",), permission=SCOPE)
def shift_edit(ctx):
    shift_id = ctx.request.path_params["shift_id"]
    field = ctx.form.get("field") or ""
    if field not in tracker.SHIFT_FIELDS:
        raise TrackerInputError(f"{field!r} cannot be edited")
    page_name = ctx.form.get("page") or "sdc"
    return _edit_response(
        ctx,
        "shift",
        lambda: tracker_store.edit_shift(
            ctx.engine,
            ctx.settings,
            ctx.actor(),
            shift_id,
            ctx.form.get("version"),
            field,
            ctx.form.get("value"),
            ctx.allowed,
        ),
        page_name,
    )


@page("/t/{state}/{entity}/{entity_id:int}/note", name="tracker.note", methods=("POST",), permission=SCOPE)
def note_add(ctx):
    entity = ctx.request.path_params["entity"]
    if entity not in ("shift", "group"):
        raise tracker_store.NotFound("no such page")
    entity = "shift" if entity == "shift" else "canvass_group"
    entity_id = ctx.request.path_params["entity_id"]
    return _edit_response(
        ctx,
        entity,
        lambda: tracker_store.add_note(
            ctx.engine, ctx.actor(), entity, entity_id, ctx.form.get("type"), ctx.form.get("text"), ctx.allowed
        ),
        ctx.form.get("page") or "sdc",
    )


@page("/t/{state}/groups", name="tracker.group.create", methods=("POST",), permission=SCOPE)
def group_create(ctx):
    office = ctx.form.get("office") or ctx.scope.office
    if not office:
        raise TrackerInputError("choose the office of the group")
    ids = [_int(x, "member") for x in ctx.form_lists.get("member", [])]
    group = tracker_store.create_group(
        ctx.engine, ctx.settings, ctx.actor(), ctx.day(), ctx.scope.state, office, ids, ctx.form, ctx.allowed
    )
    message = f"canvass group {group['id']} created with {len(group['members'])} canvasser(s)"
    if ctx.wants_json:
        return JSONResponse({"ok": True, "id": group["id"], "message": message})
    return ctx.back(message)


@page("/t/{state}/group/{group_id:int}", name="tracker.group.action", methods=("POST",), permission=SCOPE)
def group_edit(ctx):
    group_id = ctx.request.path_params["group_id"]
    return _edit_response(
        ctx,
        "canvass_group",
        lambda: tracker_store.group_action(
            ctx.engine,
            ctx.settings,
            ctx.actor(),
            group_id,
            ctx.form.get("version"),
            ctx.form.get("action") or "",
            ctx.form,
            ctx.allowed,
        ),
        "kph",
    )


@page("/t/{state}/{page_name}/row/{entity}/{entity_id:int}", name="tracker.row", permission=SCOPE)
def row_fragment(ctx):
    """One row re-rendered for a page's live update (204: it no longer belongs on that page)."""
    p = ctx.request.path_params
    page_name, entity, entity_id = p["page_name"], p["entity"], p["entity_id"]
    with ctx.engine.connect() as conn:
        row = (
            tracker_store.shift_row(conn, entity_id) if entity == "shift" else tracker_store.group_row(conn, entity_id)
        )
    if entity not in ROW_TEMPLATES or row is None:
        return Response(status_code=204)
    region = row.get("region") or ctx.app.region_of(row.get("office"))
    if not ctx.scope.contains(row["instance"], row.get("office"), region):
        return Response(status_code=204)
    if not ctx.allowed(row["instance"], row.get("office"), region):
        raise tracker_store.Forbidden("this row belongs to an office you do not work in")
    if entity == "shift" and (not tracker.on_page(row, page_name) or page_name in ("kph",)):
        return Response(status_code=204)
    if entity == "canvass_group" and not row.get("is_active"):
        return Response(status_code=204)
    return Response(_row_html(ctx, entity, row, page_name), media_type="text/html")


# -- dashboard -----------------------------------------------------------------------------------------------------
@page("/dashboard", name="dashboard", permission=DASHBOARD, title="Dashboard", section="Overview", order=5)
def dashboard(ctx):
    return ctx.render("dashboard.html", rows=_dashboard_rows(ctx), day=ctx.today, states=_dash_states(ctx))


@page("/dashboard/table", name="dashboard.table", permission=DASHBOARD)
def dashboard_table(ctx):
    return Response(ctx.render_text("_dashboard_table.html", rows=_dashboard_rows(ctx)), media_type="text/html")


def _dashboard_rows(ctx) -> list[dict]:
    with ctx.engine.connect() as conn:
        return tracker_store.dashboard(conn, ctx.today, ctx.settings, ctx.allowed, _now())


def _dash_states(ctx) -> list[str]:
    u = ctx.user
    return ctx.app.states if u.is_hq or u.state is None else [u.state]


# -- volunteers ----------------------------------------------------------------------------------------------------
@page("/t/{state}/volunteers", name="tracker.volunteers", permission=SCOPE, title="Volunteers", order=60)
def volunteers(ctx):
    q = (ctx.request.query_params.get("q") or "").strip()
    with ctx.engine.connect() as conn:
        found = tracker_store.search_volunteers(conn, ctx.scope, q) if q else []
    return ctx.render(
        "volunteers.html", q=q, found=found, page="volunteers", scopes=ctx.visible_scopes(), day=ctx.today
    )


def _may_see_volunteer(ctx, vol: dict, conn) -> bool:
    places = tracker_store.volunteer_places(conn, vol, ctx.settings)
    return any(ctx.allowed(i, o, r) for i, o, r in places)


@page("/volunteers/{volunteer_id:int}", name="volunteer", permission=LOGGED_IN)
def volunteer_page(ctx):
    vid = ctx.request.path_params["volunteer_id"]
    with ctx.engine.connect() as conn:
        vol = tracker_store.volunteer(conn, vid)
        if vol is None:
            raise tracker_store.NotFound("no such volunteer")
        if not _may_see_volunteer(ctx, vol, conn):
            raise tracker_store.Forbidden("this volunteer has no shift in an office you work in")
        history = tracker_store.volunteer_history(conn, vol, _now())
    return ctx.render("volunteer.html", vol=vol, history=history, back=ctx.request.headers.get("referer"))


@page("/volunteers/{volunteer_id:int}", name="volunteer.edit", methods=("POST",), permission=LOGGED_IN)
def volunteer_edit(ctx):
    vid = ctx.request.path_params["volunteer_id"]
    try:
        tracker_store.edit_volunteer(
            ctx.engine,
            ctx.settings,
            ctx.actor(),
            vid,
            ctx.form.get("version"),
            {k: ctx.form.get(k, "") for k in tracker_store.VOLUNTEER_FIELDS},
            lambda vol, conn: _may_see_volunteer(ctx, vol, conn),
        )
    except tracker_store.Conflict as exc:
        return ctx.redirect(f"/volunteers/{vid}", f"Not saved: {exc} since you opened the page.", "error")
    return ctx.redirect(f"/volunteers/{vid}", "contact details saved")
