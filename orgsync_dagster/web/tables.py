"""The web app's own warehouse tables (schema ``web``): the allow-list of users and the audit of its changes."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from orgsync_dagster.lib.tables import TZ, metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),  # lower-case; the OIDC login's verified e-mail
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("rank", sa.String(8), nullable=False),  # Intern | DFO | FO | FD | DATA
    sa.Column("state", sa.String(64)),  # VAN instance; NULL: every state (HQ, DATA)
    sa.Column("region", sa.String(32)),  # FD: their region; "HQ": headquarters
    sa.Column("offices", ARRAY(sa.Text), nullable=False, server_default="{}"),  # Intern / DFO / FO: their offices
    sa.Column("is_allowed", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("color", sa.String(16), nullable=False, server_default="#3b6ea5"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_by", sa.Text),
    sa.Column("last_login_at", TZ),
    schema="web",
)

user_changes = sa.Table(
    "user_changes",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("field", sa.String(32), nullable=False),
    sa.Column("old_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("by_email", sa.Text, nullable=False),
    sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
    schema="web",
)
