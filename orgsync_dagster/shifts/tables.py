"""Warehouse tables of the shifts domain: the VAN participant export (ngpvan.*), the organizer tool's day tables,
their nightly backups and the per-day state of the nightly job (shifts.*). No hard-coded schema per environment:
point the warehouse URL at another database instead."""

import sqlalchemy as sa

from orgsync_dagster.lib.tables import TZ, metadata

# -- VAN side ---------------------------------------------------------------------------------------------------
# The Event Participant List of upcoming events (the old SyncShift), one row per VAN signup.
event_participants = sa.Table(
    "event_participants",
    metadata,
    sa.Column("instance", sa.String(64), primary_key=True),
    sa.Column("event_signup_id", sa.BigInteger, primary_key=True),
    sa.Column("van_id", sa.BigInteger, nullable=False),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("event_name", sa.Text),
    sa.Column("event_date", sa.String(10), nullable=False),  # the event's own local start date (VAN's filter)
    sa.Column("event_type_id", sa.BigInteger, nullable=False),
    sa.Column("event_type_name", sa.String(100)),
    sa.Column("event_shift_id", sa.BigInteger),
    sa.Column("shift_name", sa.Text),
    sa.Column("role_id", sa.BigInteger),
    sa.Column("role_name", sa.String(100)),
    sa.Column("status_id", sa.Integer, nullable=False),
    sa.Column("status_name", sa.String(100), nullable=False),
    sa.Column("location_id", sa.BigInteger),
    sa.Column("location_name", sa.Text),
    sa.Column("starts_at", TZ, nullable=False),
    sa.Column("ends_at", TZ),
    sa.Column("date_modified", sa.Text),
    sa.Column("exported_at", TZ, nullable=False, server_default=sa.func.now()),
    schema="ngpvan",
)
sa.Index("ix_event_participants_start", event_participants.c.instance, event_participants.c.starts_at)

# Signups the export could not use (no VAN id, unknown status, unreadable time...), replaced on every export.
participant_problems = sa.Table(
    "event_participant_problems",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("instance", sa.String(64), nullable=False, index=True),
    sa.Column("event_signup_id", sa.BigInteger),
    sa.Column("event_id", sa.BigInteger),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("seen_at", TZ, nullable=False, server_default=sa.func.now()),
    schema="ngpvan",
)

# VAN's signup statuses per event type (ids are instance-specific: always looked up, cached for a day).
signup_statuses = sa.Table(
    "signup_statuses",
    metadata,
    sa.Column("instance", sa.String(64), primary_key=True),
    sa.Column("event_type_id", sa.BigInteger, primary_key=True),
    sa.Column("status_id", sa.Integer, primary_key=True),
    sa.Column("event_type_name", sa.String(100), nullable=False),
    sa.Column("status_name", sa.String(100), nullable=False),
    sa.Column("fetched_at", TZ, nullable=False, server_default=sa.func.now()),
    schema="ngpvan",
)

# -- the organizer tool's day tables ------------------------------------------------------------------------------
locations = sa.Table(
    "locations",
    metadata,
    sa.Column("instance", sa.String(64), primary_key=True),
    sa.Column("location_id", sa.BigInteger, primary_key=True),  # VAN location id
    sa.Column("van_name", sa.Text),
    sa.Column("office", sa.Text, nullable=False),  # display name, possibly remapped (shifts.offices)
    sa.Column("region", sa.String(32)),
    sa.Column("updated_at", TZ, server_default=sa.func.now()),
    schema="shifts",
)

volunteers = sa.Table(
    "volunteers",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("instance", sa.String(64), nullable=False),
    sa.Column("van_id", sa.BigInteger),  # NULL for walk-ins not (yet) in VAN
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("phone", sa.String(20)),
    sa.Column("cellphone", sa.String(20)),
    sa.Column("knocks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_shift_at", TZ),
    sa.Column("next_shift_confirmed", sa.Boolean),
    sa.Column("has_pitched_today", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("extra_shifts_sched", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_user", sa.Text),
    sa.Column("updated_at", TZ, server_default=sa.func.now()),
    sa.UniqueConstraint("instance", "van_id", name="uq_volunteers_van_id"),
    schema="shifts",
)


def _group_columns(live: bool) -> list:
    return [
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
        if live
        else sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("location_id", sa.BigInteger),
        sa.Column("office", sa.Text),
        sa.Column("doors", sa.Integer, nullable=False, server_default="0"),  # doors knocked so far ("actual")
        sa.Column("goal", sa.Integer, nullable=False, server_default="0"),
        sa.Column("packets_given", sa.Integer, nullable=False, server_default="0"),
        sa.Column("packet_names", sa.Text),
        sa.Column("is_returned", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("departed_at", TZ),
        sa.Column("returned_at", TZ),
        sa.Column("last_check_in_at", TZ),
        sa.Column("next_check_in_at", TZ),
        sa.Column("check_ins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claim", sa.Text),
        sa.Column("last_user", sa.Text),
        sa.Column("updated_at", TZ),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    ]


def _shift_columns(live: bool) -> list:
    def fk(target):
        return [sa.ForeignKey(target)] if live else []

    return [
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
        if live
        else sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("day", sa.Date, nullable=False, index=True),  # local day of the start (shifts.timezone)
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False, server_default="van"),  # van | walk_in
        sa.Column("event_signup_id", sa.BigInteger),
        sa.Column("event_id", sa.BigInteger),
        sa.Column("event_shift_id", sa.BigInteger),
        sa.Column("event_type_id", sa.BigInteger),
        sa.Column("event_type_name", sa.String(100)),
        sa.Column("role_id", sa.BigInteger),
        sa.Column("role_name", sa.String(100)),
        sa.Column("location_id", sa.BigInteger),
        sa.Column("office", sa.Text),
        sa.Column("region", sa.String(32)),
        sa.Column("volunteer_id", sa.BigInteger, *fk("shifts.volunteers.id")),
        sa.Column("van_id", sa.BigInteger),
        sa.Column("starts_at", TZ),
        sa.Column("ends_at", TZ),
        sa.Column("status", sa.String(64)),  # what the organizers set during the day
        sa.Column("original_status", sa.String(64)),  # the VAN status it was imported with
        sa.Column("flake", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("call_pass", sa.Integer, nullable=False, server_default="0"),
        sa.Column("flake_pass", sa.Integer, nullable=False, server_default="0"),
        sa.Column("knocks", sa.Integer, nullable=False, server_default="0"),
        sa.Column("canvass_group_id", sa.BigInteger, *fk("shifts.canvass_groups.id")),
        sa.Column("claim", sa.Text),
        sa.Column("last_user", sa.Text),
        sa.Column("updated_at", TZ),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("synced_status", sa.String(64)),  # the status last written to VAN (the old shift_flipped)
        sa.Column("synced_at", TZ),
    ]


def _note_columns(live: bool) -> list:
    def fk(target):
        return [sa.ForeignKey(target)] if live else []

    return [
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
        if live
        else sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sa.Column("shift_id", sa.BigInteger, *fk("shifts.shifts.id")),
        sa.Column("canvass_group_id", sa.BigInteger, *fk("shifts.canvass_groups.id")),
        sa.Column("type", sa.String(16)),  # sdc | flake | kph
        sa.Column("at", TZ),
        sa.Column("text", sa.String(255)),
        sa.Column("user_name", sa.String(16)),
        sa.Column("user_color", sa.String(16)),
    ]


canvass_groups = sa.Table("canvass_groups", metadata, *_group_columns(True), schema="shifts")
shifts = sa.Table(
    "shifts",
    metadata,
    *_shift_columns(True),
    sa.UniqueConstraint("day", "instance", "event_signup_id", name="uq_shifts_day_signup"),
    schema="shifts",
)
notes = sa.Table("notes", metadata, *_note_columns(True), schema="shifts")

# -- nightly backups: same columns, keyed by the live row id (a re-run can never duplicate a row) ---------------
_BACKUP_EXTRA = lambda: [
    sa.Column("backed_up_at", TZ, server_default=sa.func.now()),
    sa.Column("backup_run_id", sa.String(64)),
]
backup_canvass_groups = sa.Table(
    "backup_canvass_groups", metadata, *_group_columns(False), *_BACKUP_EXTRA(), schema="shifts"
)
backup_shifts = sa.Table("backup_shifts", metadata, *_shift_columns(False), *_BACKUP_EXTRA(), schema="shifts")
backup_notes = sa.Table("backup_notes", metadata, *_note_columns(False), *_BACKUP_EXTRA(), schema="shifts")

# (live, backup) pairs in the order rows are deleted (children first); backups are inserted in reverse order.
DAY_TABLES = (
    ("notes", notes, backup_notes),
    ("shifts", shifts, backup_shifts),
    ("canvass_groups", canvass_groups, backup_canvass_groups),
)

# -- the nightly job's progress per day ---------------------------------------------------------------------------
day_status = sa.Table(
    "day_status",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("stage", sa.String(16), nullable=False),  # open | backed_up | verified | reset | imported
    sa.Column("counts", sa.JSON),  # rows backed up per table
    sa.Column("digests", sa.JSON),
    sa.Column("next_day_imported", sa.Integer),
    sa.Column("run_id", sa.String(64)),
    sa.Column("backed_up_at", TZ),
    sa.Column("verified_at", TZ),
    sa.Column("reset_at", TZ),
    sa.Column("imported_at", TZ),
    sa.Column("updated_at", TZ, server_default=sa.func.now()),
    schema="shifts",
)
