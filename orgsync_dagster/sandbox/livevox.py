"""``LivevoxEmulator``: the few Livevox API calls the call sync makes, as a werkzeug WSGI app under ``/livevox/``.

* ``POST session[/vX.Y]/login`` {clientName, userName, password} with header ``LV-Access`` -> 200
  ``{"sessionId", "userId", "daysUntilPasswordExpires"}``; a missing access token or empty credentials -> 401.
* ``GET campaign[/vX.Y]/campaigns/{id}`` -> the campaign with its ``serviceId``.
* ``GET configuration[/vX.Y]/services/{id}`` -> the service with its ``name``.
Both GETs need ``LV-Access`` and a session from login (401 otherwise); unknown ids -> 404 ``{"code", "message"}``.

One database per access token, seeded on first use: campaigns 7000-7099 dial services 900-909 (campaign
``7000 + n`` -> service ``900 + n % 10``), named like a phone program. ``add_campaign`` adds others (tests).
Thread-safe; faults, latency and rate limits come from the sandbox server around it.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

SERVICE_NAMES = [
    "MO-01 Phone Bank",
    "MO-01 Volunteer Recruitment",
    "MO-05 Phone Bank",
    "MO-05 GOTV",
    "Statewide Persuasion",
    "Statewide GOTV",
    "Spanish Language Line",
    "Event Reminders",
    "Petition Follow-up",
    "Training Line",
]
_VERSION = r"(?:/v\d+(?:\.\d+)?)?"
_ROUTES = [
    ("POST", re.compile(rf"^/livevox/session{_VERSION}/login/?$"), "login"),
    ("GET", re.compile(rf"^/livevox/campaign{_VERSION}/campaigns/(\d+)/?$"), "campaign"),
    ("GET", re.compile(rf"^/livevox/configuration{_VERSION}/services/(\d+)/?$"), "service"),
]


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(status: int, code: int, message: str) -> Response:
    return _json(status, {"code": code, "message": message})


class LivevoxEmulator:
    def __init__(self):
        self._lock = threading.RLock()
        self._dbs: dict[str, dict[str, Any]] = {}
        self._revoked: set[str] = set()

    def _db(self, token: str) -> dict[str, Any]:
        db = self._dbs.get(token)
        if db is None:
            services = {
                900 + i: {"id": 900 + i, "name": name, "callCenterId": 1} for i, name in enumerate(SERVICE_NAMES)
            }
            campaigns = {
                7000 + n: {"id": 7000 + n, "name": f"Campaign {7000 + n}", "serviceId": 900 + n % 10, "state": "PLAY"}
                for n in range(100)
            }
            db = self._dbs[token] = {"services": services, "campaigns": campaigns, "sessions": set(), "requests": 0}
        return db

    # -- admin -------------------------------------------------------------------------------------------------
    def add_campaign(self, token: str, campaign_id: int, service_id: int, service_name: str) -> None:
        with self._lock:
            db = self._db(token)
            db["services"][service_id] = {"id": service_id, "name": service_name, "callCenterId": 1}
            db["campaigns"][campaign_id] = {
                "id": campaign_id,
                "name": f"Campaign {campaign_id}",
                "serviceId": service_id,
                "state": "PLAY",
            }

    def dump(self, token: str) -> dict[str, Any]:
        with self._lock:
            db = self._db(token)
            return {
                "campaigns": list(db["campaigns"].values()),
                "services": list(db["services"].values()),
                "requests": db["requests"],
            }

    def revoke_key(self, token: str) -> None:
        with self._lock:
            self._revoked.add(token)

    def reset(self) -> None:
        with self._lock:
            self._dbs.clear()
            self._revoked.clear()

    # -- WSGI --------------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        return self._dispatch(request)(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        token = request.headers.get("LV-Access", "")
        route = next(
            (
                (m, name)
                for method, pattern, name in _ROUTES
                if method == request.method and (m := pattern.match(request.path))
            ),
            None,
        )
        if route is None:
            return _error(404, 404, f"No resource matches {request.method} {request.path}")
        m, name = route
        with self._lock:
            if not token or token in self._revoked:
                return _error(401, 401, "Access denied: a valid LV-Access token is required")
            db = self._db(token)
            db["requests"] += 1
            if name == "login":
                try:
                    body = json.loads(request.get_data() or b"{}")
                except ValueError:
                    return _error(400, 400, "The request body is not valid JSON")
                if not all(
                    isinstance(body.get(k), str) and body.get(k) for k in ("clientName", "userName", "password")
                ):
                    return _error(401, 401, "Invalid clientName, userName or password")
                session = uuid.uuid4().hex
                db["sessions"].add(session)
                return _json(200, {"sessionId": session, "userId": 1001, "daysUntilPasswordExpires": 60})
            if request.headers.get("LV-Session") not in db["sessions"]:
                return _error(401, 401, "The session is invalid or has expired: log in again")
            key = int(m.group(1))
            table = db["campaigns"] if name == "campaign" else db["services"]
            found = table.get(key)
            if found is None:
                return _error(404, 404, f"{name.title()} {key} not found")
            return _json(200, dict(found))
