"""Users (admins): the allow-list with rank, state, region and offices. DATA manages everyone; a field director the
users of their region (an HQ field director: every state). Every change is validated and audited."""

from __future__ import annotations

from orgsync_dagster.web import auth
from orgsync_dagster.web.registry import USER_ADMIN, page


def _render(ctx, status_code=200, form=None, error=None, editing=None):
    return ctx.render(
        "users.html",
        status_code=status_code,
        users=auth.list_users(ctx.engine, ctx.user),
        ranks=ctx.user.grantable_ranks(),
        states=ctx.app.states,
        form=form or {},
        error=error,
        editing=editing,
    )


@page("/users", name="users", permission=USER_ADMIN, title="Users", section="Admin", order=90)
def users_page(ctx):
    return _render(ctx)


@page("/users", name="users.add", methods=("POST",), permission=USER_ADMIN)
def users_add(ctx):
    try:
        row = auth.validate_user_form(ctx.form, ctx.user, ctx.app.states)
        user = auth.save_user(ctx.engine, ctx.user, row, None, None)
    except auth.UserFormError as exc:
        return _render(ctx, 400, form=ctx.form, error=str(exc))
    return ctx.redirect("/users", f"{user.email} added as {user.rank}")


@page("/users/{user_id:int}", name="users.edit", methods=("POST",), permission=USER_ADMIN)
def users_edit(ctx):
    user_id = ctx.request.path_params["user_id"]
    try:
        version = int(ctx.form.get("version") or "")
    except ValueError:
        version = None
    try:
        row = auth.validate_user_form(ctx.form, ctx.user, ctx.app.states)
        user = auth.save_user(ctx.engine, ctx.user, row, user_id, version)
    except auth.UserFormError as exc:
        return _render(ctx, 400, error=str(exc), editing=user_id)
    return ctx.redirect("/users", f"{user.email} saved")
