"""Local emulator of the Action Network API v2 (OSDI 1.1.1, HAL+JSON).

A werkzeug WSGI app serving ``/api/v2/...`` the way Action Network does, for tests and the demo.
See docs/ARCHITECTURE.md ("Sandbox emulator contract") and the reference notes on Action Network
(api-contracts.md section B).  Latency, faults and rate limiting are *not* done here: the sandbox
server wraps emulators with that middleware.

Behaviour emulated
------------------
* Auth: header ``OSDI-API-Token``; missing or revoked key -> 401 ``{"error": "API Key invalid or
  not present"}``.  Every key is its own group with its own in-memory database, created (and
  seeded, see ``seed_people``/``seed_tags``) on first use.
* ``GET /api/v2/`` entry point (``motd`` + ``_links`` incl. ``osdi:people``,
  ``osdi:person_signup_helper``, ``osdi:tags``).
* ``GET /api/v2/people``: 25 per page at most (larger ``per_page`` silently clamped), ``page=N``,
  ``_embedded["osdi:people"]``; no ``total_pages``/``total_records``; ``_links.next`` is present
  even on the last page (clients stop at an empty page).  Ordered by creation, not by modified date.
  OData subset ``filter=<field> eq|gt|lt '<value>'`` (clauses may be joined with ``and``; quotes
  inside values are doubled, OData style).  Fields: identifier, created_date, modified_date,
  given_name, family_name, email_address, phone_number, region, postal_code.  Malformed -> 400.
* ``POST /api/v2/people/`` person signup helper (also without the trailing slash): matches by
  e-mail address (case-insensitive), else by phone number; creates or updates (only provided fields
  change; ``custom_fields`` merged, values must be strings, ``null`` removes a field).  New e-mail
  status defaults to ``subscribed``; new mobile numbers default to ``unsubscribed``; on an existing
  person a status only changes when ``subscribed``/``unsubscribed`` is passed.  One e-mail and one
  phone per person; a phone posted for another person moves to that person (or, when its owner is
  phone-only, the records merge).  ``add_tags``/``remove_tags`` take names of existing tags
  (unknown names are silently ignored).  ``?background_request=true`` -> 200 ``{}`` (the change is
  applied synchronously before answering).
* ``GET/PUT /api/v2/people/{uuid}`` (PUT = upsert of top-level fields, custom_fields merged);
  missing -> 404 ``{"error": "Couldn't find person with id = ..."}``.  With
  ``put_requires_email=True`` a PUT without ``email_addresses`` answers 500 and changes nothing
  (the quirk the old BostonDSA sync hit).
* ``GET/POST /api/v2/tags``, ``GET /api/v2/tags/{uuid}``, ``GET /api/v2/tags/{uuid}/taggings``.
* ``GET /api/v2/metadata/custom_fields`` -> names ever seen in any person's custom_fields.

Not emulated: events, lists, actions, e-mail messages, networks, rate limits (server.py),
``DELETE`` of taggings.  Filter ``and`` support and the exact wording of 400 messages are guesses.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from orgsync_dagster.sandbox.an_db import ActionNetworkDatabase
from orgsync_dagster.sandbox.an_model import (
    API_PREFIX,
    AUTH_HEADER,
    HAL_JSON,
    ID_PREFIX,
    MAX_PER_PAGE,
    UNAUTHORIZED_MESSAGE,
    ApiError,
    _fmt,
    _Person,
    _Tag,
    _Tagging,
    _utcnow,
)
from orgsync_dagster.sandbox.an_wire import _int_arg, _matches, parse_filter

__all__ = ["ActionNetworkEmulator", "ActionNetworkDatabase", "ApiError", "parse_filter"]


class ActionNetworkEmulator:
    """WSGI app emulating the Action Network API v2 under ``/api/v2/``.

    Args:
        seed_people: deterministic people added to each key's database on first use.
        seed_tags: tag names created in each key's database on first use (e.g. ``["member"]``).
        accepted_keys: if given, only these keys are valid (others answer 401); default: any key.
        put_requires_email: emulate the old "PUT without email_addresses -> 500" quirk.
        clock: returns "now" (aware datetime); for deterministic tests.
    """

    def __init__(
        self,
        seed_people: int = 0,
        *,
        seed_tags: Iterable[str] = (),
        accepted_keys: Iterable[str] | None = None,
        put_requires_email: bool = False,
        clock: Callable[[], datetime] | None = None,
    ):
        self.seed_people = seed_people
        self.seed_tags = list(seed_tags)
        self.accepted_keys = set(accepted_keys) if accepted_keys is not None else None
        self.put_requires_email = put_requires_email
        self._clock = clock or _utcnow
        self._lock = threading.RLock()
        self._databases: dict[str, ActionNetworkDatabase] = {}
        self._revoked: set[str] = set()
        self.unauthorized_requests = 0
        self._url_map = Map(
            [
                Rule(f"{API_PREFIX}", endpoint="entry", methods=["GET"]),
                Rule(f"{API_PREFIX}/", endpoint="entry", methods=["GET"]),
                Rule(f"{API_PREFIX}/people", endpoint="people", methods=["GET", "POST"]),
                Rule(f"{API_PREFIX}/people/", endpoint="people", methods=["GET", "POST"]),
                Rule(f"{API_PREFIX}/people/<person_id>", endpoint="person", methods=["GET", "PUT"]),
                Rule(f"{API_PREFIX}/people/<person_id>/taggings", endpoint="person_taggings", methods=["GET"]),
                Rule(f"{API_PREFIX}/tags", endpoint="tags", methods=["GET", "POST"]),
                Rule(f"{API_PREFIX}/tags/", endpoint="tags", methods=["GET", "POST"]),
                Rule(f"{API_PREFIX}/tags/<tag_id>", endpoint="tag", methods=["GET"]),
                Rule(f"{API_PREFIX}/tags/<tag_id>/taggings", endpoint="tag_taggings", methods=["GET"]),
                Rule(f"{API_PREFIX}/metadata/custom_fields", endpoint="custom_fields", methods=["GET"]),
            ],
            strict_slashes=False,
            merge_slashes=False,
        )

    # -- state API (contract) ---------------------------------------------------------------------
    def database(self, key: str) -> ActionNetworkDatabase:
        """The key's database, created and seeded on first use (for in-process tests)."""
        with self._lock:
            db = self._databases.get(key)
            if db is None:
                db = ActionNetworkDatabase(key, clock=self._clock)
                for name in self.seed_tags:
                    db.create_tag(name)
                if self.seed_people:
                    db.seed(self.seed_people)
                self._databases[key] = db
            return db

    def revoke_key(self, key: str) -> None:
        with self._lock:
            self._revoked.add(key)

    def reset(self) -> None:
        """Drop every database and forget revocations."""
        with self._lock:
            self._databases.clear()
            self._revoked.clear()
            self.unauthorized_requests = 0

    def dump(self, key: str) -> dict[str, Any]:
        """JSON-able snapshot: {"people": [...], "tags": [...], "custom_fields": [...], "stats": {...}}."""
        with self._lock:
            return self.database(key).snapshot()

    def stats(self, key: str) -> dict[str, int]:
        with self._lock:
            return dict(self.database(key).stats)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._databases)

    def is_valid_key(self, key: str | None) -> bool:
        if not key or key in self._revoked:
            return False
        return self.accepted_keys is None or key in self.accepted_keys

    # -- WSGI -------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            return _json_response(404, {"error": "Not found"})
        key = (request.headers.get(AUTH_HEADER) or "").strip()
        with self._lock:
            if not self.is_valid_key(key):
                self.unauthorized_requests += 1
                return _json_response(401, {"error": UNAUTHORIZED_MESSAGE})
            db = self.database(key)
            method = request.method.upper()
            db.stats["requests"] += 1
            counter = {"GET": "gets", "POST": "posts", "PUT": "puts"}.get(method, "other_methods")
            db.stats[counter] += 1
            try:
                adapter = self._url_map.bind_to_environ(request.environ)
                endpoint, args = adapter.match()
                handler = getattr(self, f"_handle_{endpoint}")
                status, body = handler(db, request, _base_url(request), **args)
            except ApiError as exc:
                status, body = exc.status, {"error": exc.message}
            except NotFound:
                status, body = 404, {"error": f"Could not find {path}"}
            except MethodNotAllowed:
                status, body = 405, {"error": f"Method {method} not allowed for {path}"}
            except HTTPException as exc:  # pragma: no cover - defensive
                status, body = exc.code or 500, {"error": exc.description or "error"}
            if status >= 400:
                db.stats["errors"] += 1
            db.log.append(
                {"method": method, "path": path, "query": request.query_string.decode("latin-1"), "status": status}
            )
            payload = json.dumps(body)
        return _json_response(status, payload)

    # -- handlers ---------------------------------------------------------------------------------
    def _handle_entry(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        return 200, {
            "motd": "Welcome to the Action Network OSDI API v2 Entry Point! (local sandbox emulator)",
            "vendor_name": "Action Network",
            "product_name": "Action Network",
            "osdi_version": "1.1.1",
            "max_pagesize": MAX_PER_PAGE,
            "namespace": "action_network",
            "_links": {
                "self": {"href": base, "title": "Action Network API Entry Point"},
                "osdi:people": {"href": base + "people", "title": "The collection of people in the system"},
                "osdi:tags": {"href": base + "tags", "title": "The collection of tags in the system"},
                "osdi:person_signup_helper": {
                    "href": base + "people/",
                    "title": "The person signup helper for the system",
                },
                "action_network:custom_fields": {
                    "href": base + "metadata/custom_fields",
                    "title": "The custom fields used in the system",
                },
                "docs": {
                    "href": "https://actionnetwork.org/docs/v2/",
                    "title": "Documentation",
                    "name": "Docs",
                    "index": "index",
                },
                "curies": _curies(),
            },
        }

    def _handle_people(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        if request.method == "POST":
            return self._signup_helper(db, request, base)
        raw_filter = request.args.get("filter")
        clauses = parse_filter(raw_filter) if raw_filter is not None else []
        people = [p for p in db.people.values() if not clauses or _matches(p, clauses)]
        return 200, _collection(
            request, base, "people", "osdi:people", people, lambda p: _person_resource(p, base), with_totals=False
        )

    def _signup_helper(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        db.stats["signup_helper_posts"] += 1
        background = _is_background(request)
        if background:
            db.stats["background_requests"] += 1
        body = _json_body(request)
        person, _created = db.signup(body)
        if background:
            return 200, {}
        return 200, _person_resource(person, base)

    def _handle_person(self, db: ActionNetworkDatabase, request: Request, base: str, person_id: str) -> tuple[int, Any]:
        if request.method == "PUT":
            db.stats["person_puts"] += 1
            background = _is_background(request)
            if background:
                db.stats["background_requests"] += 1
            body = _json_body(request)
            if db.person(person_id) is None:
                raise ApiError(404, f"Couldn't find person with id = {person_id}")
            if self.put_requires_email and not body.get("email_addresses"):
                return 500, {"error": "There was an error processing your request."}
            person = db.put_person(person_id, body)
            return 200, ({} if background else _person_resource(person, base))
        person = db.person(person_id)
        if person is None:
            raise ApiError(404, f"Couldn't find person with id = {person_id}")
        return 200, _person_resource(person, base)

    def _handle_person_taggings(
        self, db: ActionNetworkDatabase, request: Request, base: str, person_id: str
    ) -> tuple[int, Any]:
        if db.person(person_id) is None:
            raise ApiError(404, f"Couldn't find person with id = {person_id}")
        items = [t for by_person in db.taggings.values() for pid, t in by_person.items() if pid == person_id]
        return 200, _collection(
            request,
            base,
            f"people/{person_id}/taggings",
            "osdi:taggings",
            items,
            lambda t: _tagging_resource(t, base),
            with_totals=True,
        )

    def _handle_tags(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        if request.method == "POST":
            db.stats["tag_posts"] += 1
            body = _json_body(request)
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, "You must specify a name for the tag.")
            tag, _created = db.create_tag(name.strip())
            return 200, _tag_resource(tag, base)
        return 200, _collection(
            request,
            base,
            "tags",
            "osdi:tags",
            list(db.tags.values()),
            lambda t: _tag_resource(t, base),
            with_totals=True,
        )

    def _handle_tag(self, db: ActionNetworkDatabase, request: Request, base: str, tag_id: str) -> tuple[int, Any]:
        tag = db.tags.get(tag_id)
        if tag is None:
            raise ApiError(404, f"Couldn't find tag with id = {tag_id}")
        return 200, _tag_resource(tag, base)

    def _handle_tag_taggings(
        self, db: ActionNetworkDatabase, request: Request, base: str, tag_id: str
    ) -> tuple[int, Any]:
        if tag_id not in db.tags:
            raise ApiError(404, f"Couldn't find tag with id = {tag_id}")
        items = list(db.taggings[tag_id].values())
        return 200, _collection(
            request,
            base,
            f"tags/{tag_id}/taggings",
            "osdi:taggings",
            items,
            lambda t: _tagging_resource(t, base),
            with_totals=True,
        )

    def _handle_custom_fields(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        return 200, {
            "origin_system": "Action Network",
            "name": "Custom Fields",
            "description": "The collection of custom fields available at this endpoint.",
            "_links": {"self": [{"href": base + "metadata/custom_fields"}], "curies": _curies()},
            "action_network:custom_fields": [
                {"name": name, "created_date": _fmt(when), "modified_date": _fmt(when), "notes": None}
                for name, when in sorted(db.custom_field_defs.items())
            ],
        }


# --------------------------------------------------------------------------------------------------
# rendering helpers
# --------------------------------------------------------------------------------------------------
def _json_response(status: int, body: Any) -> Response:
    payload = body if isinstance(body, str) else json.dumps(body)
    return Response(payload, status=status, content_type=HAL_JSON)


def _base_url(request: Request) -> str:
    return request.root_url.rstrip("/") + API_PREFIX + "/"


def _is_background(request: Request) -> bool:
    return request.args.get("background_request", "").strip().lower() == "true"


def _json_body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return body


def _curies() -> list[dict[str, Any]]:
    return [
        {"name": "osdi", "href": "https://actionnetwork.org/docs/v2/{rel}", "templated": True},
        {"name": "action_network", "href": "https://actionnetwork.org/docs/v2/{rel}", "templated": True},
    ]


def _person_resource(p: _Person, base: str) -> dict[str, Any]:
    href = f"{base}people/{p.id}"
    resource: dict[str, Any] = {
        "identifiers": p.identifiers,
        "created_date": _fmt(p.created),
        "modified_date": _fmt(p.modified),
    }
    if p.given_name is not None:
        resource["given_name"] = p.given_name
    if p.family_name is not None:
        resource["family_name"] = p.family_name
    resource.update(
        {
            "languages_spoken": list(p.languages_spoken),
            "email_addresses": p.email_addresses(),
            "phone_numbers": p.phone_numbers(),
            "postal_addresses": json.loads(json.dumps(p.postal_addresses)),
            "custom_fields": dict(p.custom_fields),
            "_links": {
                "self": {"href": href},
                "osdi:attendances": {"href": href + "/attendances"},
                "osdi:signatures": {"href": href + "/signatures"},
                "osdi:submissions": {"href": href + "/submissions"},
                "osdi:donations": {"href": href + "/donations"},
                "osdi:outreaches": {"href": href + "/outreaches"},
                "osdi:taggings": {"href": href + "/taggings"},
                "curies": _curies(),
            },
        }
    )
    return resource


def _tag_resource(t: _Tag, base: str) -> dict[str, Any]:
    href = f"{base}tags/{t.id}"
    return {
        "identifiers": [ID_PREFIX + t.id],
        "created_date": _fmt(t.created),
        "modified_date": _fmt(t.modified),
        "name": t.name,
        "_links": {"self": {"href": href}, "osdi:taggings": {"href": href + "/taggings"}, "curies": _curies()},
    }


def _tagging_resource(t: _Tagging, base: str) -> dict[str, Any]:
    href = f"{base}tags/{t.tag_id}/taggings/{t.id}"
    return {
        "identifiers": [ID_PREFIX + t.id],
        "created_date": _fmt(t.created),
        "modified_date": _fmt(t.created),
        "item_type": "osdi:person",
        "_links": {
            "self": {"href": href},
            "osdi:tag": {"href": f"{base}tags/{t.tag_id}"},
            "osdi:person": {"href": f"{base}people/{t.person_id}"},
            "curies": _curies(),
        },
    }


def _collection(
    request: Request,
    base: str,
    path: str,
    rel: str,
    items: list[Any],
    render: Callable[[Any], dict[str, Any]],
    *,
    with_totals: bool,
) -> dict[str, Any]:
    per_page = _int_arg(request.args.get("per_page"), MAX_PER_PAGE)
    per_page = MAX_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    page = max(1, _int_arg(request.args.get("page"), 1))
    start = (page - 1) * per_page
    rendered = [render(item) for item in items[start : start + per_page]]

    def href(page_no: int) -> str:
        params = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
        params.append(("page", str(page_no)))
        return f"{base}{path}?{urlencode(params)}"

    links: dict[str, Any] = {
        # AN quirk (people, since 2016): `next` is always present; clients stop on an empty page.
        "next": {"href": href(page + 1)},
        "self": {"href": href(page)},
        rel: [{"href": r["_links"]["self"]["href"]} for r in rendered],
        "curies": _curies(),
    }
    if page > 1:
        links["previous"] = {"href": href(page - 1)}
    body: dict[str, Any] = {"per_page": per_page, "page": page}
    if with_totals:
        total_pages = max(1, -(-len(items) // per_page))
        body["total_pages"] = total_pages
        body["total_records"] = len(items)
        if page >= total_pages:
            links.pop("next")
    body["_links"] = links
    body["_embedded"] = {rel: rendered}
    return body
