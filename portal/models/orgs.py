"""Regions, local governments and organisations."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import Multilingual, enum_column

if TYPE_CHECKING:
    from portal.models.users import User


class Region(Multilingual, Base):
    """One of the eight planning regions."""

    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[int] = mapped_column(unique=True)
    name_mk: Mapped[str] = mapped_column(sa.String(120))
    name_sq: Mapped[str] = mapped_column(sa.String(120))
    name_en: Mapped[str] = mapped_column(sa.String(120))

    municipalities: Mapped[list[Municipality]] = relationship(back_populates="region")


class Municipality(Multilingual, Base):
    """A local government: one of the 80 municipalities or the City of Skopje (LAU code)."""

    __tablename__ = "municipality"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    region_id: Mapped[int] = mapped_column(sa.ForeignKey("region.id"), index=True)
    name_mk: Mapped[str] = mapped_column(sa.String(120))
    name_sq: Mapped[str] = mapped_column(sa.String(120))
    name_en: Mapped[str] = mapped_column(sa.String(120))

    region: Mapped[Region] = relationship(back_populates="municipalities")

    __table_args__ = (sa.CheckConstraint("kind IN ('municipality', 'city')", name="kind"),)


class OrgKind(enum.StrEnum):
    MINISTRY = "ministry"
    MUNICIPALITY = "municipality"
    PROVIDER = "provider"
    MONITOR = "monitor"


class OrgStatus(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class LegalForm(enum.StrEnum):
    ASSOCIATION = "association"
    COMPANY = "company"
    INDIVIDUAL = "individual"
    PUBLIC_INSTITUTION = "public_institution"


class Organisation(Base):
    """The ministry, a municipality, a service provider or the monitoring team."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OrgKind] = mapped_column(enum_column(OrgKind, "org_kind"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[OrgStatus] = mapped_column(
        enum_column(OrgStatus, "org_status"), default=OrgStatus.VERIFIED, index=True
    )
    municipality_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("municipality.id"), unique=True
    )
    # Provider details.
    tax_number: Mapped[str | None] = mapped_column(sa.String(13), unique=True)
    legal_form: Mapped[LegalForm | None] = mapped_column(enum_column(LegalForm, "legal_form"))
    licence_number: Mapped[str | None] = mapped_column(sa.String(64))
    licence_valid_from: Mapped[date | None] = mapped_column(sa.Date)
    licence_valid_until: Mapped[date | None] = mapped_column(sa.Date)
    # Contact.
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    contact_person: Mapped[str] = mapped_column(sa.String(200), default="")
    contact_email: Mapped[str] = mapped_column(sa.String(254), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(40), default="")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who verified (a user id; the audit trail holds the full record). No foreign key: users
    # reference organisations, and a cycle would complicate every migration.
    verified_by_id: Mapped[int | None] = mapped_column()
    status_reason: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    municipality: Mapped[Municipality | None] = relationship()
    users: Mapped[list[User]] = relationship(
        back_populates="organisation", foreign_keys="User.organisation_id"
    )

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.CheckConstraint(
            "(kind = 'municipality') = (municipality_id IS NOT NULL)", name="municipality_link"
        ),
        sa.CheckConstraint(
            "kind <> 'provider' OR (tax_number IS NOT NULL AND legal_form IS NOT NULL)",
            name="provider_identity",
        ),
        sa.CheckConstraint(
            "licence_valid_from IS NULL OR licence_valid_until IS NULL "
            "OR licence_valid_from <= licence_valid_until",
            name="licence_dates",
        ),
    )

    @property
    def is_provider(self) -> bool:
        return self.kind == OrgKind.PROVIDER

    @property
    def is_verified(self) -> bool:
        return self.status == OrgStatus.VERIFIED

    def licence_valid_on(self, day: date) -> bool:
        if not self.licence_valid_from or not self.licence_valid_until:
            return False
        return self.licence_valid_from <= day <= self.licence_valid_until
