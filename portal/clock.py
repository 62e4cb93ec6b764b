"""The current time, and Skopje local time. Deadlines are entered and shown in Europe/Skopje and
stored in UTC. Tests move the clock with `monkeypatch.setattr(clock, "now", ...)`."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SKOPJE = ZoneInfo("Europe/Skopje")


class NonexistentLocalTime(ValueError):
    """A wall-clock time skipped by the change to summer time (e.g. 02:30 on the last Sunday of March)."""


def now() -> datetime:
    return datetime.now(UTC)


def skopje_to_utc(local: datetime) -> datetime:
    """A naive Skopje wall-clock time to UTC. In the autumn hour that happens twice, the first
    (summer-time) occurrence is taken; a time skipped in spring is refused."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    aware = local.replace(tzinfo=SKOPJE, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(SKOPJE).replace(tzinfo=None) != local:
        raise NonexistentLocalTime(local.isoformat())
    return utc


def utc_to_skopje(value: datetime) -> datetime:
    return value.astimezone(SKOPJE)
