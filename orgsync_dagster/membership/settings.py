"""The membership section of orgsync.yaml, validated into one typed object (no Dagster import)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.membership.intake import IntakeSettings
from orgsync_dagster.membership.rules import DEFAULT_RULE, MemberRule, rule_from_config


@dataclass(frozen=True)
class MembershipSettings:
    s3_bucket: str = ""
    s3_prefix: str = "actionkit/exports/"
    archive_prefix: str = "actionkit/archive/"
    sensor_max_objects_per_tick: int = 10
    sensor_interval_seconds: int = 120
    key_column: str = "email"
    min_rows: int = 1
    max_lapsed_share: float = 0.05
    max_shrink_share: float = 0.05
    max_quarantined_share: float = 0.05
    scope: str = "default"
    concurrency: int = 8
    add_tags: tuple[str, ...] = field(default_factory=tuple)
    show_personal_data: bool = False
    sample_size: int = 10
    #: who is a member (``membership.is_member``; see membership/rules.py); default: memb_status_letter == "M"
    member_rule: MemberRule = DEFAULT_RULE
    #: the Action Network people mirror (override_<field>): refreshed before a push when older than this
    #: (0: always; an incremental refresh costs one request when nothing changed)
    mirror_max_age_minutes: int = 0
    # export parsing limits (parsing helper): see exports.model.ParseLimits
    max_uncompressed_bytes: int = 4 << 30
    max_compression_ratio: float = 100.0
    max_field_chars: int = 1000
    # intake (sensor + e-mail allow-list; see membership/intake.py)
    sensor_overlap_seconds: int = 600
    intake: IntakeSettings = field(default_factory=IntakeSettings)

    @classmethod
    def from_config(cls, section: dict) -> MembershipSettings:
        guard = section.get("guard") or {}
        push = section.get("push") or {}
        s = cls(
            s3_bucket=section.get("s3_bucket") or os.environ.get("ORGSYNC_S3_BUCKET", ""),
            s3_prefix=section.get("s3_prefix", cls.s3_prefix) or "",
            archive_prefix=section.get("archive_prefix", cls.archive_prefix) or "",
            sensor_max_objects_per_tick=int(section.get("sensor_max_objects_per_tick", 10)),
            sensor_interval_seconds=int(section.get("sensor_interval_seconds", 120)),
            key_column=str(section.get("key_column") or "email"),
            min_rows=int(section.get("min_rows", 1)),
            max_lapsed_share=float(guard.get("max_lapsed_share", 0.05)),
            max_shrink_share=float(guard.get("max_shrink_share", 0.05)),
            max_quarantined_share=float(guard.get("max_quarantined_share", 0.05)),
            scope=str(push.get("scope") or "default"),
            concurrency=int(push.get("concurrency", 8)),
            add_tags=tuple(push.get("add_tags") or ()),
            show_personal_data=bool(section.get("show_personal_data", False)),
            sample_size=int(section.get("sample_size", 10)),
            member_rule=rule_from_config(section.get("is_member")),
            mirror_max_age_minutes=_int(section.get("mirror") or {}, "max_age_minutes", 0),
            max_uncompressed_bytes=int(section.get("max_uncompressed_bytes", 4 << 30)),
            max_compression_ratio=float(section.get("max_compression_ratio", 100.0)),
            max_field_chars=int(section.get("max_field_chars", 1000)),
            sensor_overlap_seconds=int(section.get("sensor_overlap_seconds", 600)),
            intake=IntakeSettings.from_config(section.get("intake")),
        )
        if not s.archive_prefix or (s.s3_prefix and s.archive_prefix.startswith(s.s3_prefix)):
            raise cfg.ConfigError("membership.archive_prefix must be set and lie outside membership.s3_prefix")
        for name in ("max_lapsed_share", "max_shrink_share", "max_quarantined_share"):
            if not 0.0 <= getattr(s, name) <= 1.0:
                raise cfg.ConfigError(f"membership.guard.{name} must be between 0 and 1")
        if s.sensor_overlap_seconds < 0:
            raise cfg.ConfigError("membership.sensor_overlap_seconds must be >= 0")
        if s.concurrency < 1 or s.sensor_max_objects_per_tick < 1:
            raise cfg.ConfigError("membership.push.concurrency and sensor_max_objects_per_tick must be >= 1")
        if s.max_uncompressed_bytes < 1 or not s.max_compression_ratio >= 1 or s.max_field_chars < 1:
            raise cfg.ConfigError(
                "membership.max_uncompressed_bytes and max_field_chars must be >= 1, max_compression_ratio >= 1"
            )
        return s


def _int(section, name: str, default: int) -> int:
    if not isinstance(section, dict):
        raise cfg.ConfigError("membership.mirror must be a mapping, e.g. {max_age_minutes: 60}")
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise cfg.ConfigError(f"membership.mirror.{name} must be a whole number >= 0, not {value!r}")
    return value


def member_rule() -> MemberRule:
    """The configured ``membership.is_member`` rule (cached per configuration file; used per row by the push)."""
    return _rule_for(str(os.environ.get("ORGSYNC_CONFIG") or cfg.DEFAULT_CONFIG))


@functools.lru_cache(maxsize=8)
def _rule_for(path: str) -> MemberRule:
    return rule_from_config(cfg.section("membership", path).get("is_member"))


def settings() -> MembershipSettings:
    return MembershipSettings.from_config(cfg.section("membership"))
