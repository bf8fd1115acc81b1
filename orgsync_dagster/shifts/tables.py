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
    # the person's contact fields as VAN's signup object carries them (no extra request)
    sa.Column("email", sa.Text),
    sa.Column("phone", sa.String(32)),
    sa.Column("contact_mode_id", sa.Integer),
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
    sa.Column("phone", sa.String(32)),
    sa.Column("cellphone", sa.String(32)),
    sa.Column("email", sa.Text),
    sa.Column("knocks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_shift_at", TZ),
    sa.Column("next_shift_confirmed", sa.Boolean),
    sa.Column("has_pitched_today", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("extra_shifts_sched", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_user", sa.Text),
    sa.Column("updated_at", TZ, server_default=sa.func.now()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),  # optimistic concurrency
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
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),  # optimistic concurrency
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
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),  # optimistic concurrency
        # the review: only a status an organizer approved is written back to VAN (and only while it still is
        # the shift's status); the sync's outcome per shift: sent | failed | not_matched, with the reason
        sa.Column("approved_status", sa.String(64)),
        sa.Column("approved_by", sa.Text),
        sa.Column("approved_at", TZ),
        sa.Column("sync_outcome", sa.String(16)),
        sa.Column("sync_error", sa.Text),
    ]


def _note_columns(live: bool) -> list:
    def fk(target):
        return [sa.ForeignKey(target)] if live else []

    return [
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
        if live
        else sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("shift_id", sa.BigInteger, *fk("shifts.shifts.id")),
        sa.Column("canvass_group_id", sa.BigInteger, *fk("shifts.canvass_groups.id")),
        sa.Column("type", sa.String(16)),  # sdc | flake | kph
        sa.Column("at", TZ),
        sa.Column("text", sa.String(255)),
        sa.Column("user_name", sa.String(16)),  # initials
        sa.Column("user_color", sa.String(16)),
        sa.Column("author", sa.Text),  # the organizer's name
    ]


def _edit_columns(live: bool) -> list:
    """The audit of every edit made in the tracker: who, when, which row and field, old -> new."""
    return [
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
        if live
        else sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("office", sa.Text),
        sa.Column("entity", sa.String(16), nullable=False),  # shift | canvass_group | volunteer | note
        sa.Column("entity_id", sa.BigInteger, nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("old_value", sa.Text),
        sa.Column("new_value", sa.Text),
        sa.Column("version", sa.Integer),  # the row's version after the edit
        sa.Column("user_email", sa.Text, nullable=False),
        sa.Column("user_name", sa.Text),
        sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
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
edits = sa.Table("edits", metadata, *_edit_columns(True), schema="shifts")
sa.Index("ix_edits_entity", edits.c.entity, edits.c.entity_id)

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
backup_edits = sa.Table("backup_edits", metadata, *_edit_columns(False), *_BACKUP_EXTRA(), schema="shifts")

# (live, backup) pairs in the order rows are deleted (children first); backups are inserted in reverse order.
# The edit audit is part of the day: backed up, verified and reset with it.
DAY_TABLES = (
    ("edits", edits, backup_edits),
    ("notes", notes, backup_notes),
    ("shifts", shifts, backup_shifts),
    ("canvass_groups", canvass_groups, backup_canvass_groups),
)

# -- the nightly job's progress per day ---------------------------------------------------------------------------
day_status = sa.Table(
    "day_status",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("instance", sa.String(64), primary_key=True),  # one VAN instance's day (a partition)
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
