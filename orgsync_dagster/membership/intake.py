"""Intake allow-list of membership exports (plain logic; no Dagster import).

An export e-mailed to the SES inbox is accepted only when

* its From address is an allowed sender (``membership.intake.allowed_senders``: addresses, or ``@domain`` for any
  address of a domain) and its Subject matches ``membership.intake.subject_pattern``, and
* the receipt's authentication verdicts vouch for that From domain: the ``Authentication-Results`` header that SES
  (authserv-id ``amazonses.com``) prepends says ``dmarc=pass`` for ``header.from`` = the From domain, or both
  ``spf=pass`` (envelope sender / Return-Path aligned with the From domain) and ``dkim=pass`` (signing domain
  aligned with the From domain), and
* SES's ``X-SES-Virus-Verdict`` / ``X-SES-Spam-Verdict`` are not ``FAIL`` (absent when scanning is off).

The From line alone is never trusted (anyone can write it). Only the *first* ``Authentication-Results`` /
``Received-SPF`` / ``X-SES-*`` headers count: SES prepends its own above whatever the sender wrote, so a forged
``Authentication-Results: amazonses.com; dmarc=pass`` further down is ignored.

Plain CSV/ZIP objects (not e-mail) are accepted or not by ``membership.intake.allow_plain_files``. With no
``allowed_senders`` configured, e-mails are refused in the production profile and accepted with a warning in the local
one (demo, tests, playground). Reasons never carry an
e-mail address (masked with :func:`orgsync_dagster.membership.mapping.mask_key`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.membership.exports.containers import EMAIL_HEADER_NAMES, is_zip
from orgsync_dagster.membership.mapping import mask_key, scrub

HEADER_LIMIT = 256 * 1024  # the header block is read from at most this many leading bytes
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
# A superset of exports.py's e-mail detection (more header names, a longer header block), so nothing that the
# parser would open as an e-mail is judged here as a plain file.
_KNOWN = EMAIL_HEADER_NAMES | {b"authentication-results", b"received-spf"}


@dataclass(frozen=True)
class IntakeSettings:
    allowed_senders: tuple[str, ...] = ()
    subject_pattern: str = ""
    allow_plain_files: bool = True
    authserv_id: str = "amazonses.com"

    @classmethod
    def from_config(cls, section: dict | None) -> IntakeSettings:
        section = section or {}
        senders = section.get("allowed_senders") or ()
        if isinstance(senders, str):
            senders = [senders]
        s = cls(
            allowed_senders=tuple(str(x).strip().lower() for x in senders if str(x).strip()),
            subject_pattern=str(section.get("subject_pattern") or ""),
            allow_plain_files=bool(section.get("allow_plain_files", True)),
            authserv_id=str(section.get("authserv_id") or "amazonses.com").strip().lower(),
        )
        try:
            re.compile(s.subject_pattern)
        except re.error as exc:
            raise cfg.ConfigError(
                f"membership.intake.subject_pattern is not a valid regular expression: {exc}"
            ) from None
        for sender in s.allowed_senders:
            local, at, domain = sender.rpartition("@")
            if not at or not domain or "." not in domain:
                raise cfg.ConfigError(
                    f"membership.intake.allowed_senders: {mask_key(sender)!r} is neither an address nor @domain"
                )
        return s


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str  # "" when accepted; else a short code: not_email_plain_refused, sender_not_allowed, ...
    detail: str = ""  # human-readable, no e-mail address
    kind: str = "plain"  # email | plain
    sender: str = ""  # masked From address
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def safe_partition_key(pk: str) -> str:
    """A partition key fit for logs: e-mail addresses in the key part masked, the ``@<etag>`` suffix kept."""
    rel, at, etag = pk.rpartition("@")
    return scrub(rel) + at + etag if at else scrub(pk)


def scrub_message(text: str, *partition_keys: str) -> str:
    """:func:`scrub` that leaves the given partition keys readable (their ``@<etag>`` is not an address)."""
    holders = {f"\x00{i}\x00": pk for i, pk in enumerate(k for k in partition_keys if k)}
    for holder, pk in holders.items():
        text = text.replace(pk, holder)
    text = scrub(text)
    for holder, pk in holders.items():
        text = text.replace(holder, safe_partition_key(pk))
    return text


def header_block(data: bytes) -> bytes | None:
    """The RFC 822 header block of ``data`` (up to the first blank line), or None when it is not an e-mail."""
    if is_zip(data):
        return None
    head = data[:HEADER_LIMIT]
    end = re.search(rb"\r?\n\r?\n", head)
    if end is None:
        return None
    block = head[: end.start()]
    lines = re.split(rb"\r?\n", block)
    known = 0
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            continue
        if not _HEADER_LINE.match(line):
            return None
        if line.split(b":", 1)[0].strip().lower() in _KNOWN:
            known += 1
    return block + b"\r\n\r\n" if known and len(lines) >= 2 else None


def _first(msg, name: str) -> str:
    values = msg.get_all(name) or []
    return re.sub(r"\s+", " ", str(values[0])).strip() if values else ""


def _domain(addr: str) -> str:
    return addr.rpartition("@")[2].strip().strip(">").lower().rstrip(".")


def aligned(a: str, b: str) -> bool:
    """Relaxed alignment: the same domain, or one a subdomain of the other (e.g. mail.example.com ~ example.com)."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if not a or not b or "." not in a or "." not in b:  # never a bare top-level domain
        return False
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def parse_auth_results(value: str) -> tuple[str, dict[str, list[tuple[str, dict[str, str]]]]]:
    """``authserv-id; method=result prop=value ...; ...`` -> (authserv-id, {method: [(result, props)]})."""
    value = re.sub(r"\([^()]*\)", " ", value)  # drop comments
    parts = [p.strip() for p in value.split(";")]
    authserv = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    out: dict[str, list[tuple[str, dict[str, str]]]] = {}
    method = None
    for part in parts[1:]:
        for token in part.split():
            if "=" not in token:
                continue
            k, _, v = token.partition("=")
            k, v = k.strip().lower(), v.strip().strip('"').lower()
            if k in ("spf", "dkim", "dmarc", "auth", "iprev") and "." not in k:
                method = k
                out.setdefault(k, []).append((v, {}))
            elif method is not None:
                out[method][-1][1][k] = v
    return authserv, out


def _sender_allowed(addr: str, allowed: tuple[str, ...]) -> bool:
    addr = addr.lower()
    for entry in allowed:
        if entry.startswith("@") and _domain(addr) == entry[1:]:
            return True
        if entry == addr:
            return True
    return False


def _authenticated(msg, from_domain: str, authserv_id: str) -> tuple[bool, str]:
    """(passes, why) from the receipt's first Authentication-Results / Received-SPF headers."""
    results = _first(msg, "Authentication-Results")
    if not results:
        return False, "no Authentication-Results header (not received through SES, or stripped)"
    authserv, methods = parse_auth_results(results)
    if authserv != authserv_id:
        return False, f"the first Authentication-Results is from {authserv or '?'!r}, not {authserv_id!r}"
    dmarc = methods.get("dmarc") or []
    for result, props in dmarc:
        hdr_from = props.get("header.from", from_domain)
        if result == "pass" and aligned(hdr_from, from_domain):
            return True, "dmarc=pass"
    spf_ok = False
    envelope = _first(msg, "Return-Path").strip("<> ")
    for result, props in methods.get("spf") or []:
        sender = props.get("envelope-from") or props.get("smtp.mailfrom") or envelope
        if result == "pass" and aligned(_domain(sender), from_domain):
            spf_ok = True
    received_spf = _first(msg, "Received-SPF")
    if not spf_ok and received_spf.lower().startswith("pass"):
        m = re.search(r"envelope-from=<?([^;>\s]+)", received_spf)
        spf_ok = aligned(_domain(m.group(1) if m else envelope), from_domain)
    dkim_ok = any(
        result == "pass" and aligned(props.get("header.d") or _domain(props.get("header.i", "")), from_domain)
        for result, props in methods.get("dkim") or []
    )
    if spf_ok and dkim_ok:
        return True, "spf=pass and dkim=pass, both aligned with the From domain"
    seen = ", ".join(f"{m}={r}" for m in ("spf", "dkim", "dmarc") for r, _ in methods.get(m, [])) or "no verdicts"
    return False, f"neither dmarc=pass nor aligned spf+dkim pass for the From domain ({seen})"


def decide(data: bytes, s: IntakeSettings, *, local: bool = False) -> Verdict:
    """Accept or reject one raw export before it is parsed. ``local``: the local profile (demo, tests, playground),
    where an e-mail is accepted without an allow-list (with a warning); in production it is refused."""
    block = header_block(data)
    if block is None:
        if s.allow_plain_files:
            return Verdict(True, "", kind="plain")
        return Verdict(
            False,
            "plain_file_refused",
            "not an e-mail, and membership.intake.allow_plain_files is false (only e-mailed exports are accepted)",
        )
    msg = BytesHeaderParser(policy=compat32).parsebytes(block)
    froms = [a for _, a in getaddresses([str(v) for v in msg.get_all("From") or []]) if a]
    sender = froms[0].lower() if len(froms) == 1 else ""
    masked = mask_key(sender)
    for name, verdict_header in (("virus", "X-SES-Virus-Verdict"), ("spam", "X-SES-Spam-Verdict")):
        value = _first(msg, verdict_header).upper()
        if value == "FAIL":
            return Verdict(False, name, f"SES {name} verdict FAIL", "email", masked)
    if not s.allowed_senders and not local:
        return Verdict(
            False,
            "allow_list_missing",
            "membership.intake.allowed_senders is not configured: in production an e-mailed export is only accepted "
            "from configured senders",
            "email",
            masked,
        )
    if not s.allowed_senders:
        return Verdict(
            True,
            "",
            kind="email",
            sender=masked,
            warnings=["membership.intake.allowed_senders is not set: e-mails are accepted from anyone"],
        )
    if not sender:
        return Verdict(False, "sender_missing", f"{len(froms)} From address(es); exactly one is required", "email")
    if not _sender_allowed(sender, s.allowed_senders):
        return Verdict(False, "sender_not_allowed", f"From {masked} is not an allowed sender", "email", masked)
    subject = _first(msg, "Subject")
    if s.subject_pattern and not re.search(s.subject_pattern, subject):
        return Verdict(
            False,
            "subject_mismatch",
            f"subject does not match membership.intake.subject_pattern {s.subject_pattern!r}",
            "email",
            masked,
        )
    ok, why = _authenticated(msg, _domain(sender), s.authserv_id)
    if not ok:
        return Verdict(False, "unauthenticated", f"From {masked}: {why}", "email", masked)
    return Verdict(True, "", why, "email", masked)


def record_rejection(
    engine, *, partition_key: str, bucket: str, key: str, etag: str, reason: str, detail: str, kept: str | None
) -> None:
    """One row in membership.intake_rejections (the raw object is kept at ``kept``)."""
    from orgsync_dagster.membership.tables import intake_rejections

    with engine.begin() as conn:
        conn.execute(
            intake_rejections.insert().values(
                partition_key=partition_key,
                bucket=bucket,
                s3_key=key,
                etag=etag,
                reason=reason,
                detail=detail,
                kept_copy=kept,
                seen_at=dt.datetime.now(dt.UTC),
            )
        )


def rejections(engine, partition_key: str | None = None) -> list[dict]:
    import sqlalchemy as sa  # not at import: the settings (and so the CLI's diff path) import this module

    from orgsync_dagster.membership.tables import intake_rejections

    q = sa.select(intake_rejections).order_by(intake_rejections.c.id)
    if partition_key is not None:
        q = q.where(intake_rejections.c.partition_key == partition_key)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
