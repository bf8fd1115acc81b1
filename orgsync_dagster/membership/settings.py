"""The membership section of orgsync.yaml, validated into one typed object (no Dagster import)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.membership.intake import IntakeSettings


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
    scope: str = "default"
    concurrency: int = 8
    add_tags: tuple[str, ...] = field(default_factory=tuple)
    show_personal_data: bool = False
    sample_size: int = 10
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
            scope=str(push.get("scope") or "default"),
            concurrency=int(push.get("concurrency", 8)),
            add_tags=tuple(push.get("add_tags") or ()),
            show_personal_data=bool(section.get("show_personal_data", False)),
            sample_size=int(section.get("sample_size", 10)),
            sensor_overlap_seconds=int(section.get("sensor_overlap_seconds", 600)),
            intake=IntakeSettings.from_config(section.get("intake")),
        )
        if not s.archive_prefix or (s.s3_prefix and s.archive_prefix.startswith(s.s3_prefix)):
            raise cfg.ConfigError("membership.archive_prefix must be set and lie outside membership.s3_prefix")
        for name in ("max_lapsed_share", "max_shrink_share"):
            if not 0.0 <= getattr(s, name) <= 1.0:
                raise cfg.ConfigError(f"membership.guard.{name} must be between 0 and 1")
        if s.sensor_overlap_seconds < 0:
            raise cfg.ConfigError("membership.sensor_overlap_seconds must be >= 0")
        if s.concurrency < 1 or s.sensor_max_objects_per_tick < 1:
            raise cfg.ConfigError("membership.push.concurrency and sensor_max_objects_per_tick must be >= 1")
        return s


def settings() -> MembershipSettings:
    return MembershipSettings.from_config(cfg.section("membership"))
