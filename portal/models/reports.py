"""Monthly provider reports: one per grant and month, each kept as a series of versions.

A report's figures live in its versions. A draft version is edited in place; once submitted a version
is frozen (the database refuses to change its figures). Returning a report, or asking to correct an
accepted one, starts the next version as a copy, so every version ever submitted stays as it was.
The report row points at the version that counts (`accepted_version`): only that one feeds indicators
and tranche conditions, and while a correction is under way the earlier accepted version still counts."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.grants import GrantAgreement
from portal.models.reference import HardToEmployCategory, ServiceType
from portal.models.users import User


class ReportStatus(enum.StrEnum):
    """The status of a report's newest version."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"


class VersionStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    SUPERSEDED = "superseded"  # accepted once, replaced by an accepted correction


class MonthlyReport(Base):
    __tablename__ = "monthly_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    month: Mapped[date] = mapped_column(sa.Date)  # the first day of the month reported
    month_number: Mapped[int] = mapped_column()  # 1 for the grant's start month
    status: Mapped[ReportStatus] = mapped_column(enum_column(ReportStatus, "report_status"), default=ReportStatus.DRAFT,
                                                 index=True)
    current_version: Mapped[int] = mapped_column(default=1)
    accepted_version: Mapped[int | None] = mapped_column()
    first_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Decided once, at the first submission, under the due date in force then.
    submitted_on_time: Mapped[bool | None] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    agreement: Mapped[GrantAgreement] = relationship()
    versions: Mapped[list[ReportVersion]] = relationship(back_populates="report", order_by="ReportVersion.version")

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.UniqueConstraint("agreement_id", "month", name="uq_monthly_report_agreement_month"),
        # The reviewer queue: filtered by status, oldest submission first (migration 0015).
        sa.Index("ix_monthly_report_queue", "status", "last_submitted_at", "id"),
        sa.CheckConstraint("month_number >= 1 AND month_number <= 61", name="month_number"),
        sa.CheckConstraint("accepted_version IS NULL OR accepted_version <= current_version", name="accepted_version"),
    )

    @property
    def newest(self) -> ReportVersion:
        return self.versions[-1]

    @property
    def in_force(self) -> ReportVersion | None:
        """The accepted version that counts, if any."""
        if self.accepted_version is None:
            return None
        return next(v for v in self.versions if v.version == self.accepted_version)


#: The new beneficiaries broken down as the served ones are (issue 15, migration 0016).
NEW_BREAKDOWN_FIELDS = ("new_female", "new_male", "new_age_0_17", "new_age_18_64", "new_age_65_79", "new_age_80_plus",
                        "new_with_disability", "new_without_disability")
#: Beneficiary figures of one service type, in form order.
BENEFICIARY_FIELDS = ("total", "female", "male", "age_0_17", "age_18_64", "age_65_79", "age_80_plus",
                      "with_disability", "without_disability", "new_this_month", *NEW_BREAKDOWN_FIELDS, "continuing",
                      "left_this_month", "service_hours")
STAFF_FIELDS = ("staff_total", "staff_female", "staff_male", "certified_caregivers")
HIRE_FIELDS = ("total", "female", "new_this_month", "new_female", "continuing")


class ReportVersion(Base):
    __tablename__ = "report_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("monthly_report.id"), index=True)
    version: Mapped[int] = mapped_column()
    status: Mapped[VersionStatus] = mapped_column(enum_column(VersionStatus, "report_version_status"),
                                                  default=VersionStatus.DRAFT)
    staff_total: Mapped[int] = mapped_column(default=0)
    staff_female: Mapped[int] = mapped_column(default=0)
    staff_male: Mapped[int] = mapped_column(default=0)
    certified_caregivers: Mapped[int] = mapped_column(default=0)
    narrative: Mapped[str] = mapped_column(sa.Text, default="")
    # Warnings found at submission ([{"code": ..., "message": ...}]) and the provider's explanation.
    warnings: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    explanation: Mapped[str] = mapped_column(sa.Text, default="")
    correction_reason: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_comment: Mapped[str] = mapped_column(sa.Text, default="")
    # The beneficiary figures (all but the service hours) were filled from the grant's service-user register when
    # the version was saved and submitted, not typed (issue 16, migration 0022).
    beneficiaries_from_register: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    edit_version: Mapped[int] = mapped_column(default=1)

    report: Mapped[MonthlyReport] = relationship(back_populates="versions")
    services: Mapped[list[ReportServiceLine]] = relationship(back_populates="version", order_by="ReportServiceLine.id",
                                                             cascade="all, delete-orphan")
    hires: Mapped[list[ReportHireLine]] = relationship(back_populates="version", order_by="ReportHireLine.id",
                                                       cascade="all, delete-orphan")
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    __mapper_args__ = {"version_id_col": edit_version}
    __table_args__ = (
        sa.UniqueConstraint("report_id", "version", name="uq_report_version_number"),
        sa.CheckConstraint("staff_total >= 0 AND staff_female >= 0 AND staff_male >= 0 AND certified_caregivers >= 0",
                           name="staff_not_negative"),
        # What the database itself holds for every version past draft.
        sa.CheckConstraint("status = 'draft' OR (staff_female + staff_male = staff_total "
                           "AND certified_caregivers <= staff_total)", name="staff_sums"),
    )

    @property
    def beneficiaries(self) -> int:
        return sum(line.total for line in self.services)

    @property
    def hard_to_employ(self) -> int:
        return sum(line.total for line in self.hires)


class ReportServiceLine(Base):
    """Beneficiaries of one service type in one version: the total and its disaggregations."""

    __tablename__ = "report_service_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("report_version.id", ondelete="CASCADE"), index=True)
    service_type_id: Mapped[int] = mapped_column(sa.ForeignKey("service_type.id"), index=True)
    total: Mapped[int] = mapped_column(default=0)
    female: Mapped[int] = mapped_column(default=0)
    male: Mapped[int] = mapped_column(default=0)
    age_0_17: Mapped[int] = mapped_column(default=0)
    age_18_64: Mapped[int] = mapped_column(default=0)
    age_65_79: Mapped[int] = mapped_column(default=0)
    age_80_plus: Mapped[int] = mapped_column(default=0)
    with_disability: Mapped[int] = mapped_column(default=0)
    without_disability: Mapped[int] = mapped_column(default=0)
    new_this_month: Mapped[int] = mapped_column(default=0)
    # The new beneficiaries broken down as the served ones are: they feed "people served since the start, of
    # which women" (issue 15). Reports accepted before these existed hold 0 here.
    new_female: Mapped[int] = mapped_column(default=0, server_default="0")
    new_male: Mapped[int] = mapped_column(default=0, server_default="0")
    new_age_0_17: Mapped[int] = mapped_column(default=0, server_default="0")
    new_age_18_64: Mapped[int] = mapped_column(default=0, server_default="0")
    new_age_65_79: Mapped[int] = mapped_column(default=0, server_default="0")
    new_age_80_plus: Mapped[int] = mapped_column(default=0, server_default="0")
    new_with_disability: Mapped[int] = mapped_column(default=0, server_default="0")
    new_without_disability: Mapped[int] = mapped_column(default=0, server_default="0")
    continuing: Mapped[int] = mapped_column(default=0)
    left_this_month: Mapped[int] = mapped_column(default=0)
    service_hours: Mapped[int] = mapped_column(default=0)

    version: Mapped[ReportVersion] = relationship(back_populates="services")
    service_type: Mapped[ServiceType] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("version_id", "service_type_id", name="uq_report_service_line_type"),
        # As migration 0007 created it: the columns of 0016 are kept 0 or more by the report rules.
        sa.CheckConstraint(" AND ".join(f"{name} >= 0" for name in BENEFICIARY_FIELDS if name not in NEW_BREAKDOWN_FIELDS),
                           name="not_negative"),
    )


class ReportHireLine(Base):
    """Staff from one hard-to-employ group (each person under one primary category) in one version."""

    __tablename__ = "report_hire_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("report_version.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("hard_to_employ_category.id"), index=True)
    total: Mapped[int] = mapped_column(default=0)
    female: Mapped[int] = mapped_column(default=0)
    new_this_month: Mapped[int] = mapped_column(default=0)
    new_female: Mapped[int] = mapped_column(default=0, server_default="0")  # of the newly hired, women
    continuing: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(sa.String(300), default="")

    version: Mapped[ReportVersion] = relationship(back_populates="hires")
    category: Mapped[HardToEmployCategory] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("version_id", "category_id", name="uq_report_hire_line_category"),
        sa.CheckConstraint("total >= 0 AND female >= 0 AND new_this_month >= 0 AND continuing >= 0", name="not_negative"),
    )


class NoticeKind(enum.StrEnum):
    REMINDER = "reminder"
    OVERDUE = "overdue"


class ReportNotice(Base):
    """A reminder or overdue notice sent for a grant's month: each is sent once (the unique constraint)."""

    __tablename__ = "report_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    month: Mapped[date] = mapped_column(sa.Date)
    kind: Mapped[NoticeKind] = mapped_column(enum_column(NoticeKind, "report_notice_kind"))
    recipients: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("agreement_id", "month", "kind", name="uq_report_notice_once"),)
