"""Staff: exports the membership mass-lapse guard blocked, approved or rejected here (issue 8).

The same rules as ``orgsync membership approve|reject`` (``membership.approvals.decide``): who decides is the
signed-in user (their name; their masked e-mail when the allow-list has no name), a note is required, a decision is final, a pushed export cannot be decided. An
approval is pushed by the Dagster sensor ``membership_approval_sensor`` (no run config). The page shows counts
only, never a member's data.

Who: the data team (rank DATA) only, checked on the server for the page and every POST: an approval changes
is_member for many real people at once, which is not bounded by a region or an office.
"""

from __future__ import annotations

import datetime as dt
import functools

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.membership import approvals
from orgsync_dagster.membership.mapping import mask_key
from orgsync_dagster.web.registry import page, ranks

MEMBERSHIP_APPROVALS = ranks("DATA")
HOME = "/staff/membership"


def _when(value) -> str:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return ""
    return (value.astimezone(dt.UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M UTC")


def _unusable(handler):
    @functools.wraps(handler)
    def wrapped(ctx):
        try:
            return handler(ctx)
        except cfg.ConfigError as exc:
            message = f"the membership section of the configuration file (ORGSYNC_CONFIG) is not usable: {exc}"
            return ctx.render("error.html", status_code=500, status=500, message=message)

    return wrapped


def _render(ctx, *, status_code: int = 200, error: str | None = None, export: str = "", note: str = ""):
    return ctx.render(
        "membership_approvals.html",
        status_code=status_code,
        waiting=approvals.pending(ctx.engine),
        history=approvals.history(ctx.engine, limit=50),
        error=error,
        draft_export=export,
        draft_note=note,
        when=_when,
        home=HOME,
    )


@page(
    HOME,
    name="membership.approvals",
    title="Membership approvals",
    section="Staff",
    permission=MEMBERSHIP_APPROVALS,
    order=81,
)
@_unusable
def membership_approvals(ctx):
    return _render(ctx)


@page(f"{HOME}/decide", name="membership.approvals.decide", methods=("POST",), permission=MEMBERSHIP_APPROVALS)
@_unusable
def membership_decide(ctx):
    export = (ctx.form.get("export") or "").strip()
    decision = (ctx.form.get("decision") or "").strip()
    note = ctx.form.get("note") or ""
    try:
        # recorded by name: the decision shows in Dagster's check descriptions and Slack, where no e-mail may go
        by = (getattr(ctx.user, "full_name", "") or "").strip() or mask_key(ctx.user.email)
        recorded = approvals.decide(ctx.engine, export, decision, by, note)
    except approvals.DecisionError as exc:
        return _render(ctx, status_code=400, error=f"Not recorded: {exc}.", export=export, note=note)
    if recorded["decision"] == approvals.APPROVE:
        message = (
            f"{recorded['partition_key']} approved (decision {recorded['id']}): the push starts on the next tick of "
            "membership_approval_sensor."
        )
    else:
        message = f"{recorded['partition_key']} rejected (decision {recorded['id']}): it is never pushed."
    return ctx.redirect(HOME, message)
