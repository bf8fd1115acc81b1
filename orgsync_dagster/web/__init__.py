"""The project's one web app (``orgsync web``): the organizers' tracker first, staff pages later.

Starlette + uvicorn + Jinja2, one login and permission layer (OIDC via Authlib in production, a loopback-only dev
login in the local profile, the ``web.users`` allow-list with rank, state, region and offices), signed HttpOnly
SameSite session cookies, CSRF on every state-changing request, live updates over Server-Sent Events fed by
PostgreSQL LISTEN/NOTIFY.

Adding a page: register a handler with ``registry.page(path, name=..., permission=..., title=..., section=...)`` in
a module listed in ``app.PAGE_MODULES``; see ``registry.py`` and docs/WEB.md.
"""
