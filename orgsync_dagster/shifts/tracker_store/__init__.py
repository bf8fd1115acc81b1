"""The tracker's reads and writes on the shifts.* warehouse tables (the ones the hourly import fills and the nightly
backup archives), for the web app's pages.

Every write:
* checks the caller may touch the row (``allowed(instance, office, region)``, the web app's permission layer)
  under the row's lock, before anything else is revealed;
* is optimistic: the caller sends the row version it saw; a stale one raises ``Conflict`` with the fresh row and
  changes nothing (never a silent overwrite);
* records each changed field in ``shifts.edits`` (who, when, old -> new) in the same transaction; the nightly backup
  keeps that audit with the day;
* notifies ``CHANNEL`` (PostgreSQL NOTIFY, delivered at commit) so every open page of that office updates live,
  whichever web process served the edit.

The store is split by concern: ``core`` (the actor, the errors, the write protocol above), ``reads`` (the pages'
rows and the dashboard), ``shift_edits`` (shift fields, notes, walk-ins), ``groups`` (canvass groups, KPH),
``review`` (approving final statuses) and ``volunteers``. Callers use this package's names:
``tracker_store.edit_shift(...)``.
"""

from orgsync_dagster.shifts.tracker_store.core import (
    CHANNEL,
    Actor,
    Allowed,
    Conflict,
    Forbidden,
    NotFound,
    notify_change,
)
from orgsync_dagster.shifts.tracker_store.groups import GROUP_ACTIONS, create_group, group_action
from orgsync_dagster.shifts.tracker_store.reads import (
    dashboard,
    day_groups,
    day_shifts,
    group_row,
    is_archived,
    offices,
    shift_row,
)
from orgsync_dagster.shifts.tracker_store.review import review_rows, set_approval
from orgsync_dagster.shifts.tracker_store.shift_edits import add_note, add_walk_in, edit_shift
from orgsync_dagster.shifts.tracker_store.volunteers import (
    VOLUNTEER_FIELDS,
    edit_volunteer,
    search_volunteers,
    volunteer,
    volunteer_history,
    volunteer_places,
)

__all__ = [
    "CHANNEL",
    "GROUP_ACTIONS",
    "VOLUNTEER_FIELDS",
    "Actor",
    "Allowed",
    "Conflict",
    "Forbidden",
    "NotFound",
    "add_note",
    "add_walk_in",
    "create_group",
    "dashboard",
    "day_groups",
    "day_shifts",
    "edit_shift",
    "edit_volunteer",
    "group_action",
    "group_row",
    "is_archived",
    "notify_change",
    "offices",
    "review_rows",
    "search_volunteers",
    "set_approval",
    "shift_row",
    "volunteer",
    "volunteer_history",
    "volunteer_places",
]
