"""The pseudonymised service-user register (issue 16): who a grant serves, without knowing who they are.

A provider keeps, per grant, one *episode* per person and service: the person is only a keyed hash of the personal
number (HMAC-SHA256 under a secret held outside the database, `portal.register.keys`), never a name or the number
itself. What is known of the episode — the ЦСР decision, the service, the dates, sex, year of birth, disability,
municipality of residence, the provider's own reference — lives in append-only *versions*: adding an episode writes
version 1, ending or correcting it writes the next one, and the database refuses UPDATE and DELETE of versions
(migration 0019). The episode row carries the number of its current version (an optimistic lock).

The ministry's duplicate check (`portal.register.duplicates`) finds the same person in the same service type in
overlapping months on two grants; a `RegisterDuplicateResolution` records, once per pair, what the ministry decided."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.grants import GrantAgreement
from portal.models.orgs import Municipality
from portal.models.reference import ServiceType
from portal.models.users import User


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"


class LeavingReason(enum.StrEnum):
    GOALS_MET = "goals_met"  # the service is no longer needed
    DECISION_ENDED = "decision_ended"  # the ЦСР decision expired or was revoked
    MOVED = "moved"  # moved away
    OTHER_SERVICE = "other_service"  # moved to another service or provider
    INSTITUTION = "institution"  # hospital or residential care
    DECLINED = "declined"  # the person or family declined the service
    DIED = "died"
    OTHER = "other"


class DuplicateOutcome(enum.StrEnum):
    LEGITIMATE = "legitimate"  # both services were really given (e.g. a move between providers within the month)
    CORRECTED = "corrected"  # one of the episodes was wrong and has been corrected


class RegisterKey(Base):
    """A version of the register's secret, known by a fingerprint (a keyed hash of a fixed text, never the secret):
    a secret changed without re-keying is noticed before it splits people in two."""

    __tablename__ = "register_key"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint("version >= 1", name="version_positive"),)


class RegisterEpisode(Base):
    """One person's service under one grant. `person_key` is the keyed hash (hex) under key `key_version`."""

    __tablename__ = "register_episode"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    person_key: Mapped[str] = mapped_column(sa.String(64), index=True)
    key_version: Mapped[int] = mapped_column(sa.ForeignKey("register_key.version"))
    current_version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Retention (`flask register-anonymise`): the key replaced by a random one, the decision number, Centre and
    # references blanked in every version — the only change the database allows on versions.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agreement: Mapped[GrantAgreement] = relationship()
    versions: Mapped[list[RegisterEpisodeVersion]] = relationship(
        back_populates="episode", order_by="RegisterEpisodeVersion.version")

    __mapper_args__ = {"version_id_col": current_version, "version_id_generator": False}
    __table_args__ = (sa.CheckConstraint("current_version >= 1", name="current_version_positive"),)

    @property
    def current(self) -> RegisterEpisodeVersion:
        return self.versions[-1]


class RegisterEpisodeVersion(Base):
    """What the provider recorded about an episode, as of one change. Never changed or deleted."""

    __tablename__ = "register_episode_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("register_episode.id"), index=True)
    version: Mapped[int] = mapped_column()
    decision_number: Mapped[str] = mapped_column(sa.String(40))
    decision_date: Mapped[date] = mapped_column(sa.Date)
    decision_centre: Mapped[str] = mapped_column(sa.String(120))
    service_type_id: Mapped[int] = mapped_column(sa.ForeignKey("service_type.id"), index=True)
    start_date: Mapped[date] = mapped_column(sa.Date)
    end_date: Mapped[date | None] = mapped_column(sa.Date)
    leaving_reason: Mapped[LeavingReason | None] = mapped_column(enum_column(LeavingReason, "register_leaving_reason"))
    sex: Mapped[Sex] = mapped_column(enum_column(Sex, "register_sex"))
    birth_year: Mapped[int] = mapped_column()
    disability: Mapped[bool] = mapped_column()
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipality.id"), index=True)
    local_reference: Mapped[str] = mapped_column(sa.String(40), default="")
    # Entered in error (a wrong personal number, a person never served): kept, counted nowhere.
    withdrawn: Mapped[bool] = mapped_column(default=False)
    change: Mapped[str] = mapped_column(sa.String(20))  # added / ended / corrected
    note: Mapped[str] = mapped_column(sa.Text, default="")  # the reason for a correction
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    episode: Mapped[RegisterEpisode] = relationship(back_populates="versions")
    service_type: Mapped[ServiceType] = relationship()
    municipality: Mapped[Municipality] = relationship()
    created_by: Mapped[User] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("episode_id", "version", name="uq_register_episode_version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_not_before_start"),
        sa.CheckConstraint("(end_date IS NULL) = (leaving_reason IS NULL)", name="end_has_reason"),
        sa.CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year_range"),
        sa.CheckConstraint("change IN ('added', 'ended', 'corrected')", name="change_kind"),
    )


class RegisterDuplicateResolution(Base):
    """The ministry's decision on one pair of episodes the duplicate check listed (first_episode_id < second)."""

    __tablename__ = "register_duplicate_resolution"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_episode_id: Mapped[int] = mapped_column(sa.ForeignKey("register_episode.id"), index=True)
    second_episode_id: Mapped[int] = mapped_column(sa.ForeignKey("register_episode.id"), index=True)
    outcome: Mapped[DuplicateOutcome] = mapped_column(enum_column(DuplicateOutcome, "register_duplicate_outcome"))
    reason: Mapped[str] = mapped_column(sa.Text)
    resolved_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    resolved_by: Mapped[User] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("first_episode_id", "second_episode_id", name="uq_register_duplicate_pair"),
        sa.CheckConstraint("first_episode_id < second_episode_id", name="pair_ordered"),
    )
