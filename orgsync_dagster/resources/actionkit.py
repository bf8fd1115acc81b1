"""ActionKit as a source, read-only: ActionKit's MySQL client database, or a warehouse mirror of it.

``ACTIONKIT_DATABASE_URL`` (bound with ``dagster.EnvVar``) is a SQLAlchemy URL:

* ActionKit's read-only client database (MySQL): ``mysql+pymysql://user:password@host:3306/ak_yourorg``
* a PostgreSQL mirror: ``postgresql://user:password@host:5432/warehouse`` with ``ACTIONKIT_SCHEMA`` (default
  ``actionkit``)
* a Redshift mirror: ``redshift+redshift_connector://user:password@cluster:5439/db`` (the ``sqlalchemy-redshift``
  and ``redshift_connector`` packages; not installed by default)

Unset, the local profile reads the warehouse's own ``actionkit`` schema (demo, playground, tests); the production
profile refuses to start the read, naming the variable.

How it reads (``ActionKitSource``, one method per query):

* One read-only connection per read: the session is made read-only before any query (MySQL/MariaDB
  ``SET SESSION TRANSACTION READ ONLY``, PostgreSQL ``default_transaction_read_only``), and its time zone is UTC so
  that timestamp-with-time-zone columns of a mirror come back in UTC. Nothing here ever writes.
* Only the columns the sync needs, and only the rows changed since a watermark (``updated_at >= since``), or every
  row for a full pass; ``events_campaign`` is joined only when the mapping names campaigns.
* Everything is read by one statement and returned as a list: a read that fails half way returns nothing, so
  nothing is ever synced from a partial read.
* A bad source (unreachable, table or column missing, no permission) raises ``SourceError`` with a message that
  names what is missing and never contains the password.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from orgsync_dagster.lib import profile
from orgsync_dagster.lib.profile import ProfileError, current_profile, is_local

DATABASE_URL_ENV = "ACTIONKIT_DATABASE_URL"
SCHEMA_ENV = "ACTIONKIT_SCHEMA"
LOCAL_SCHEMA = "actionkit"

EVENT_TABLE = "events_event"
CAMPAIGN_TABLE = "events_campaign"
# The columns of events_event the sync reads (ActionKit's names).
EVENT_COLUMNS = (
    "id",
    "updated_at",
    "campaign_id",
    "title",
    "venue",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "postal",
    "country",
    "starts_at",
    "ends_at",
    "starts_at_utc",
    "ends_at_utc",
    "timezone",
    "status",
    "host_is_confirmed",
)
CAMPAIGN_COLUMNS = ("id", "name")
UTC_COLUMNS = ("updated_at", "starts_at_utc", "ends_at_utc")  # naive UTC in ActionKit
LOCAL_COLUMNS = ("starts_at", "ends_at")  # local wall time in the event's time zone
MYSQL_BACKENDS = ("mysql", "mariadb")
POSTGRES_BACKENDS = ("postgresql", "redshift")

# Driver error codes that mean "not there" or "not allowed" (MySQL/MariaDB numbers, PostgreSQL SQLSTATEs).
_MYSQL_MISSING_TABLE = {1146}
_MYSQL_MISSING_COLUMN = {1054}
_MYSQL_DENIED = {1142, 1143, 1044, 1045, 1227, 1356}
_PG_MISSING_TABLE = {"42P01", "3F000"}
_PG_MISSING_COLUMN = {"42703"}
_PG_DENIED = {"42501", "28000", "28P01"}


class SourceError(RuntimeError):
    """The ActionKit source cannot be read as the sync needs: the message says what is missing and where."""


def describe_url(url: str | URL) -> str:
    """A label for a database URL without user or password: ``mysql://host:3306/database``."""
    u = make_url(url) if isinstance(url, str) else url
    backend = u.get_backend_name()
    host = u.host or "localhost"
    port = f":{u.port}" if u.port else ""
    return f"{backend}://{host}{port}/{u.database or ''}"


def readonly_engine(url: str | URL, *, connect_timeout: int = 15) -> Engine:
    """An engine whose every connection is read-only and on UTC, opened per use (no pool left behind)."""
    u = make_url(url) if isinstance(url, str) else url
    backend = u.get_backend_name()
    connect_args: dict = {}
    if backend in MYSQL_BACKENDS:
        if "charset" not in u.query:
            u = u.update_query_dict({"charset": "utf8mb4"})
        connect_args["connect_timeout"] = connect_timeout
    elif backend in POSTGRES_BACKENDS:
        connect_args["connect_timeout"] = connect_timeout
    engine = sa.create_engine(u, poolclass=NullPool, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _read_only_session(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        try:
            if backend in MYSQL_BACKENDS:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                cursor.execute("SET time_zone = '+00:00'")  # TIMESTAMP columns in UTC (DATETIME is never shifted)
            elif backend == "postgresql":
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                cursor.execute("SET TIME ZONE 'UTC'")
            elif backend == "redshift":
                # Redshift has no read-only session setting: grant the mirror's user SELECT only (see README)
                cursor.execute("SET TIME ZONE 'UTC'")
        finally:
            cursor.close()
        if backend in POSTGRES_BACKENDS:
            dbapi_connection.commit()  # psycopg2 opened a transaction for the SETs: end it, the settings stay

    return engine


def _error_code(exc: sa.exc.DBAPIError) -> str | int | None:
    """MySQL's error number (PyMySQL: args[0]), else PostgreSQL's SQLSTATE."""
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    pgcode = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return str(pgcode) if pgcode else None


def _redact(text: str, url: URL) -> str:
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    args = getattr(orig, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):  # PyMySQL: (code, message)
        return f"({args[0]}) {args[1]}"
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


@dataclass(frozen=True)
class SourceStats:
    rows_estimated: int | None  # the database's own statistics (no scan); None where it keeps none (a view)
    newest_updated_at: dt.datetime | None  # naive UTC


class ActionKitSource:
    """ActionKit's events tables in one database (and schema). ``engine`` must come from ``readonly_engine``."""

    def __init__(self, engine: Engine, schema: str | None, label: str):
        self.engine, self.schema, self.label = engine, schema, label
        self._url = engine.url

    # -- naming -------------------------------------------------------------------------------------------------
    def qualified(self, table: str) -> str:
        return f"{self.schema}.{table}" if self.schema else table

    def _table(self, name: str, columns: Iterable[str]) -> sa.TableClause:
        return sa.table(name, *[sa.column(c) for c in columns], schema=self.schema)

    # -- errors -------------------------------------------------------------------------------------------------
    def _fail(self, exc: sa.exc.SQLAlchemyError, what: str) -> SourceError:
        where = f"ActionKit source {self.label}"
        detail = _redact(_first_line(exc), self._url)
        code = _error_code(exc) if isinstance(exc, sa.exc.DBAPIError) else None
        if code in _MYSQL_DENIED or code in _PG_DENIED:
            return SourceError(
                f"{where}: permission denied while {what} (its user needs SELECT on {self.qualified(EVENT_TABLE)} "
                f"and {self.qualified(CAMPAIGN_TABLE)}; a view also needs its definer to read its tables): {detail}"
            )
        if code in _MYSQL_MISSING_TABLE or code in _PG_MISSING_TABLE:
            return SourceError(f"{where}: a table is missing ({what}): {detail}")
        if code in _MYSQL_MISSING_COLUMN or code in _PG_MISSING_COLUMN:
            return SourceError(f"{where}: a column is missing ({what}): {detail}")
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            return SourceError(f"{where} is unreachable or the connection failed ({what}): {detail}")
        return SourceError(f"{where}: error while {what}: {detail}")

    # -- what is there ------------------------------------------------------------------------------------------
    def check(self, *, need_campaigns: bool = False) -> None:
        """Fail with one message naming every missing table or column, before anything is read."""
        wanted = {EVENT_TABLE: EVENT_COLUMNS}
        if need_campaigns:
            wanted[CAMPAIGN_TABLE] = CAMPAIGN_COLUMNS
        problems = []
        try:
            with self.engine.connect() as conn:
                inspector = sa.inspect(conn)
                for table, columns in wanted.items():
                    if not (inspector.has_table(table, schema=self.schema)):
                        problems.append(f"table {self.qualified(table)} does not exist (or this user may not see it)")
                        continue
                    present = {c["name"].lower() for c in inspector.get_columns(table, schema=self.schema)}
                    missing = [c for c in columns if c not in present]
                    if missing:
                        problems.append(f"table {self.qualified(table)} lacks column(s) {', '.join(missing)}")
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "looking up its tables") from None
        if problems:
            raise SourceError(f"ActionKit source {self.label}: " + "; ".join(problems))

    def stats(self) -> SourceStats:
        """What the observation reports, without scanning the table: the newest updated_at (one index lookup) and
        the row count the database's statistics estimate (information_schema / pg_class)."""
        t = self._table(EVENT_TABLE, ("id", "updated_at"))
        backend = self.engine.url.get_backend_name()
        try:
            with self.engine.connect() as conn:
                newest = conn.execute(sa.select(sa.func.max(t.c.updated_at))).scalar()
                estimate = None
                if backend in MYSQL_BACKENDS:
                    estimate = conn.execute(
                        sa.text(
                            "SELECT table_rows FROM information_schema.tables "
                            "WHERE table_schema = COALESCE(:schema, DATABASE()) AND table_name = :table"
                        ),
                        {"schema": self.schema, "table": EVENT_TABLE},
                    ).scalar()
                elif backend in POSTGRES_BACKENDS:
                    estimate = conn.execute(
                        sa.text(
                            "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = COALESCE(:schema, current_schema()) AND c.relname = :table"
                        ),
                        {"schema": self.schema, "table": EVENT_TABLE},
                    ).scalar()
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, f"looking at {self.qualified(EVENT_TABLE)}") from None
        rows = None if estimate is None or float(estimate) < 0 else int(float(estimate))
        return SourceStats(rows, naive_utc(newest))

    # -- reading ------------------------------------------------------------------------------------------------
    def events_query(self, since: dt.datetime | None, *, need_campaigns: bool = False) -> sa.Select:
        """The one statement a read sends: the needed columns, rows with updated_at >= since (all if None)."""
        e = self._table(EVENT_TABLE, EVENT_COLUMNS).alias("e")
        cols = [e.c[c] for c in EVENT_COLUMNS]
        frm = e
        if need_campaigns:
            c = self._table(CAMPAIGN_TABLE, CAMPAIGN_COLUMNS).alias("c")
            frm = e.outerjoin(c, c.c.id == e.c.campaign_id)
            cols.append(c.c.name.label("campaign_name"))
        q = sa.select(*cols).select_from(frm)
        if since is not None:
            q = q.where(e.c.updated_at >= since).order_by(e.c.updated_at, e.c.id)
        return q

    def read(self, since: dt.datetime | None, *, need_campaigns: bool = False) -> list[dict]:
        """Every row changed since ``since`` (naive UTC; None: the whole table), normalised. All or nothing."""
        q = self.events_query(since, need_campaigns=need_campaigns)
        what = f"reading {self.qualified(EVENT_TABLE)}" + (
            f" joined with {self.qualified(CAMPAIGN_TABLE)}" if need_campaigns else ""
        )
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=5000).execute(q)
                return [normalize_row(dict(r._mapping)) for r in result]
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, what) from None

    def dispose(self) -> None:
        self.engine.dispose()


def naive_utc(value) -> dt.datetime | None:
    """A timestamp as naive UTC: naive values are taken as UTC already (ActionKit, MySQL), aware ones converted."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def naive_local(value) -> dt.datetime | None:
    """A local wall time (starts_at): kept as read. A mirror that stored it in a time-zone-aware column got it as
    UTC (the session is on UTC), so the UTC reading of it is the wall time that was loaded."""
    return naive_utc(value)


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", errors="replace")
    return str(value)


def _int(value) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def normalize_row(raw: dict) -> dict:
    """One source row -> the JSON-able row kept in the warehouse copy: ints, text, times as naive ISO text."""
    row: dict = {}
    for key, value in raw.items():
        if key in UTC_COLUMNS:
            v = naive_utc(value)
            row[key] = None if v is None else v.isoformat()
        elif key in LOCAL_COLUMNS:
            v = naive_local(value)
            row[key] = None if v is None else v.isoformat()
        elif key in ("id", "campaign_id", "host_is_confirmed"):
            row[key] = _int(value)
        else:
            row[key] = _text(value)
    return row


profile.register(
    profile.Setting(
        DATABASE_URL_ENV,
        "ActionKit's read-only database (MySQL client DB) or a PostgreSQL/Redshift mirror of it",
        owner="events",
        required=True,
        secret=True,
        local_default="",  # local: the warehouse's own actionkit schema
    )
)
profile.register(
    profile.Setting(
        SCHEMA_ENV, "schema of events_event/events_campaign in the ActionKit source", owner="events", default=""
    )
)


class ActionKitResource(dg.ConfigurableResource):
    """ActionKit's events tables, read-only: ActionKit's MySQL client database or a PostgreSQL/Redshift mirror."""

    database_url: str | None = Field(
        default=None,
        description=f"SQLAlchemy URL of ActionKit's database or of a mirror (EnvVar {DATABASE_URL_ENV}). Empty: the "
        "warehouse's `actionkit` schema, in the local profile only.",
    )
    schema_name: str | None = Field(
        default=None,
        description=f"Schema holding events_event/events_campaign (EnvVar {SCHEMA_ENV}). Default: `actionkit` on "
        "PostgreSQL/Redshift mirrors, the URL's database on MySQL.",
    )
    connect_timeout_seconds: int = Field(default=15, description="Seconds to wait for a connection.")

    def open(self, warehouse=None) -> ActionKitSource:
        """The source to read from (close it with ``dispose()``). ``warehouse`` (a WarehouseResource) is the
        local profile's fallback when no URL is set."""
        if self.database_url:
            try:
                url = make_url(self.database_url)
            except Exception:  # the URL itself may hold the password: never echo it
                raise SourceError(f"{DATABASE_URL_ENV} is not a valid SQLAlchemy database URL") from None
            schema = self.schema_name or (None if url.get_backend_name() in MYSQL_BACKENDS else LOCAL_SCHEMA)
        elif is_local() and warehouse is not None:
            url = warehouse.get_engine().url
            schema = self.schema_name or LOCAL_SCHEMA
        else:
            raise ProfileError(
                f"{DATABASE_URL_ENV} is not set (profile {current_profile()}): set it to ActionKit's read-only "
                "database (mysql+pymysql://user:password@host:3306/database) or to your warehouse mirror "
                f"(postgresql://... with {SCHEMA_ENV}); only the local profile falls back to the warehouse's "
                "`actionkit` schema"
            )
        try:
            engine = readonly_engine(url, connect_timeout=self.connect_timeout_seconds)
        except Exception as exc:  # e.g. a dialect whose driver is not installed
            raise SourceError(
                f"ActionKit source {describe_url(url)} cannot be opened: {type(exc).__name__}: {exc}".replace(
                    str(url.password or "\0"), "***"
                )
            ) from None
        return ActionKitSource(engine, schema, describe_url(url) + (f" (schema {schema})" if schema else ""))
