"""Shared plumbing of the VAN emulator: VAN-shaped errors, request context, paging, parsing.

Used by ``van.py`` (routing/auth) and the per-domain handler modules (``van_events.py``,
``van_signups.py``, ``van_people.py``, ``van_canvass.py``, ``van_bulk*.py``). Nothing here knows about a
particular endpoint.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:  # pragma: no cover
    from orgsync_dagster.sandbox.van_db import VanDatabase

JSON_MIMETYPE = "application/json"

try:  # the "context's default timezone" for datetimes sent without an offset
    from zoneinfo import ZoneInfo

    DEFAULT_TZ: Any = ZoneInfo("America/New_York")
except Exception:  # pragma: no cover - no tz database on the machine
    DEFAULT_TZ = timezone(timedelta(hours=-5))

MIN_DATE = datetime(1900, 1, 1, tzinfo=UTC)
MAX_DATE = datetime(2100, 1, 1, tzinfo=UTC)
PHONE_RE = re.compile(r"^1?[2-9][0-8]\d[2-9]\d{6,6}$")


# ---------------------------------------------------------------------------------------------
# Errors and responses
# ---------------------------------------------------------------------------------------------
class VanError(Exception):
    """An error VAN would answer with: ``{"errors":[{"code","text","properties"?,"hint"?}]}``."""

    def __init__(
        self,
        status: int,
        code: str,
        text: str,
        properties: Iterable[str] | None = None,
        *,
        hint: str | None = None,
        reference_code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(f"{status} {code}: {text}")
        self.status = status
        self.code = code
        self.text = text
        self.properties = list(properties) if properties else None
        self.hint = hint
        self.reference_code = reference_code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "text": self.text}
        if self.properties:
            err["properties"] = self.properties
        if self.hint:
            err["hint"] = self.hint
        if self.reference_code:
            err["referenceCode"] = self.reference_code
        return {"errors": [err]}

    def response(self) -> Response:
        return json_response(self.body(), self.status, self.headers)


def bad_param(text: str, *properties: str, hint: str | None = None) -> VanError:
    return VanError(400, "INVALID_PARAMETER", text, properties, hint=hint)


def not_found(text: str = "The requested resource could not be found.") -> VanError:
    return VanError(404, "NOT_FOUND", text)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data),
        status=status,
        headers=headers or {},
        content_type=f"{JSON_MIMETYPE}; charset=utf-8",
    )


def no_content() -> Response:
    return Response(status=204)


# ---------------------------------------------------------------------------------------------
# Value parsing / normalisation
# ---------------------------------------------------------------------------------------------
def to_int(value: Any, prop: str, *, required: bool = True) -> int | None:
    """An integer from JSON (int or numeric string); 400 naming ``prop`` otherwise."""
    if value is None or value == "":
        if required:
            raise bad_param(f"'{prop}' is required.", prop)
        return None
    if isinstance(value, bool):
        raise bad_param(f"'{prop}' must be an integer.", prop)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise bad_param(f"'{prop}' must be an integer.", prop)


def to_bool(value: Any, prop: str, default: bool | None = None) -> bool | None:
    """JSON booleans, plus the strings "true"/"false" (Parsons sends those)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_param(f"'{prop}' must be a boolean.", prop)


def parse_iso(value: Any, prop: str) -> datetime:
    """An aware datetime from an ISO 8601 string (date-only allowed); offset-less = context tz."""
    if not isinstance(value, str) or not value.strip():
        raise bad_param(f"'{prop}' must be a valid ISO 8601 date/time.", prop)
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            parsed = datetime.combine(date.fromisoformat(text), time())
        else:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise bad_param(f"'{prop}' must be a valid ISO 8601 date/time.", prop) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=DEFAULT_TZ)
    if not (MIN_DATE <= parsed <= MAX_DATE):
        raise bad_param(f"'{prop}' must be between 1900-01-01 and 2100-01-01.", prop)
    return parsed


def text_value(body: dict[str, Any], prop: str, max_len: int, *, required: bool = False) -> str | None:
    """``body[prop]`` as a string of at most ``max_len`` characters (numbers coerced, as VAN's binder does)."""
    value = body.get(prop)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise bad_param(f"'{prop}' is required.", prop)
        return None if value is None else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # VAN's JSON binder coerces numbers into string properties
    if not isinstance(value, str):
        raise bad_param(f"'{prop}' must be a string.", prop)
    if len(value) > max_len:
        raise bad_param(f"'{prop}' must be {max_len} characters or fewer.", prop)
    return value


def norm(value: Any) -> str:
    """Case-, accent- and whitespace-insensitive form used by VAN-style matching."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().split())


def digits(value: Any) -> str:
    """Phone digits without a leading US country code."""
    d = re.sub(r"\D", "", str(value or ""))
    return d[1:] if len(d) == 11 and d.startswith("1") else d


def zip5(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))[:5]


def ref_id(body: dict[str, Any], obj: str, key: str, *, required: bool) -> int | None:
    """``body[obj][key]`` as an int (simple references like ``{"event": {"eventId": 1}}``)."""
    ref = body.get(obj)
    if ref is None:
        if required:
            raise bad_param(f"'{obj}' is required.", obj)
        return None
    if not isinstance(ref, dict):
        raise bad_param(f"'{obj}' must be an object.", obj)
    return to_int(ref.get(key), f"{obj}.{key}", required=required)


def iso_z(moment: datetime, *, precise: bool = False) -> str:
    """UTC ISO 8601 with a ``Z``; whole seconds unless ``precise``."""
    moment = moment.astimezone(UTC)
    if not precise:
        moment = moment.replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Per-request context
# ---------------------------------------------------------------------------------------------
class Call:
    """One authenticated request against one database."""

    def __init__(self, request: Request, db: VanDatabase, clock: Callable[[], datetime]):
        self.request = request
        self.db = db
        self._clock = clock
        # VAN (ASP.NET) query parameter names are case-insensitive (Parsons sends ``vanID``).
        self.args = {k.lower(): v for k, v in request.args.items()}
        self._body: Any = None
        self._body_read = False

    # -- clock -------------------------------------------------------------------------------
    def now(self) -> datetime:
        moment = self._clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    # -- query -------------------------------------------------------------------------------
    def arg(self, name: str) -> str | None:
        value = self.args.get(name.lower())
        return value if value not in (None, "") else None

    def int_arg(self, name: str) -> int | None:
        value = self.arg(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise bad_param(f"'{name}' must be an integer.", name) from None

    def csv_ints(self, name: str) -> list[int] | None:
        value = self.arg(name)
        if value is None:
            return None
        try:
            return [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise bad_param(f"'{name}' must be a comma-delimited list of integers.", name) from None

    def expand(self) -> set[str]:
        value = self.arg("$expand") or ""
        return {v.strip().lower().replace("_", "") for v in value.split(",") if v.strip()}

    # -- body --------------------------------------------------------------------------------
    def body(self) -> Any:
        if self._body_read:
            return self._body
        raw = self.request.get_data(cache=True)
        if not raw.strip():
            raise bad_param("A request body is required.", "body")
        if self.request.mimetype != JSON_MIMETYPE:
            mt = self.request.mimetype or "(none)"
            raise VanError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"The request entity's media type '{mt}' is not supported for this resource. "
                "Send 'Content-Type: application/json'.",
            )
        try:
            self._body = json.loads(raw)
        except ValueError:
            raise bad_param("The request body is not valid JSON.", "body") from None
        self._body_read = True
        return self._body

    def body_object(self) -> dict[str, Any]:
        body = self.body()
        if not isinstance(body, dict):
            raise bad_param("The request body must be a JSON object.", "body")
        return body

    # -- responses ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.request.host_url.rstrip('/')}{self.request.script_root}/v4/{path}"

    def created(self, new_id: int, path: str) -> Response:
        """VAN's create answer: 201, the bare integer id as body, ``Location`` header."""
        return json_response(new_id, 201, {"Location": self.url(path)})

    def page(
        self,
        items: list[dict[str, Any]],
        default_top: int,
        max_top: int,
        view: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Response:
        """Standard VAN paging over ``items`` (already filtered): $top/$skip/$orderby."""
        top_raw = self.args.get("$top")
        if top_raw in (None, ""):
            top = default_top
        else:
            try:
                top = int(top_raw)
            except ValueError:
                raise bad_param("'$top' must be an integer.", "$top") from None
            if top < 1 or top > max_top:
                raise bad_param(f"'$top' must be between 1 and {max_top}.", "$top")
        skip_raw = self.args.get("$skip")
        try:
            skip = int(skip_raw) if skip_raw not in (None, "") else 0
        except ValueError:
            raise bad_param("'$skip' must be an integer.", "$skip") from None
        if skip < 0:
            raise bad_param("'$skip' must be greater than or equal to 0.", "$skip")
        items = self._order(items)
        window = items[skip : skip + top]
        next_link = None
        if skip + top < len(items):
            pairs = [(k, v) for k, v in self.request.args.items(multi=True) if k.lower() not in ("$top", "$skip")]
            pairs += [("$top", str(top)), ("$skip", str(skip + top))]
            next_link = f"{self.request.base_url}?{urlencode(pairs, safe='$,:')}"
        return json_response(
            {
                "items": [view(i) if view else i for i in window],
                "count": len(items),
                "nextPageLink": next_link,
            }
        )

    def _order(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Minimal ``$orderby``: top-level properties, ``asc``/``desc``; unknown ones ignored."""
        spec = self.arg("$orderby")
        if not spec:
            return list(items)
        ordered = list(items)
        for part in reversed([p.strip() for p in spec.split(",") if p.strip()]):
            words = part.split()
            prop, desc = words[0], len(words) > 1 and words[1].lower() == "desc"
            try:
                ordered.sort(
                    key=lambda i: (i.get(prop) is None, i.get(prop) if i.get(prop) is not None else 0),
                    reverse=desc,
                )
            except TypeError:
                continue
        return ordered
