"""Provider grant applications, the municipality's endorsement, eligibility screening, reviewer
assignments and scores (versioned), the chair's moderation, and award decisions (versioned)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.calls import MONEY, Call, RubricCriterion
from portal.models.orgs import Organisation
from portal.models.reference import HardToEmployCategory, ServiceType
from portal.models.users import User

SCORE = sa.Numeric(8, 2)
TOTAL = sa.Numeric(10, 3)


class ApplicationStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"
    INELIGIBLE = "ineligible"
    AWARDED = "awarded"
    RESERVE = "reserve"
    REJECTED = "rejected"


class Endorsement(enum.StrEnum):
    PENDING = "pending"
    ENDORSED = "endorsed"
    DECLINED = "declined"


class Eligibility(enum.StrEnum):
    PENDING = "pending"
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"


class BudgetCategory(enum.StrEnum):
    STAFF = "staff"
    TRAINING = "training"
    EQUIPMENT = "equipment"
    PREMISES = "premises"
    OPERATING = "operating"
    OTHER = "other"
    PER_USER = "per_user"  # the per-user service price × users × months, where the call funds per user


application_service_type = sa.Table(
    "application_service_type",
    Base.metadata,
    sa.Column("application_id", sa.ForeignKey("application.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_type_id", sa.ForeignKey("service_type.id"), primary_key=True),
)


class Application(Base):
    __tablename__ = "application"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    municipality_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    status: Mapped[ApplicationStatus] = mapped_column(enum_column(ApplicationStatus, "application_status"),
                                                      default=ApplicationStatus.DRAFT, index=True)
    reference: Mapped[str | None] = mapped_column(sa.String(60), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300), default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    beneficiaries_per_month: Mapped[int | None] = mapped_column()
    start_month: Mapped[date | None] = mapped_column(sa.Date)
    duration_months: Mapped[int | None] = mapped_column()
    certified_caregivers: Mapped[int | None] = mapped_column()
    cofinancing_eur: Mapped[Decimal | None] = mapped_column(MONEY)
    # Computed on the server from the budget lines when saved.
    total_eur: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    requested_eur: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    endorsement: Mapped[Endorsement] = mapped_column(enum_column(Endorsement, "endorsement"), default=Endorsement.PENDING)
    endorsement_reason: Mapped[str] = mapped_column(sa.Text, default="")
    endorsed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    endorsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    eligibility: Mapped[Eligibility] = mapped_column(enum_column(Eligibility, "eligibility"), default=Eligibility.PENDING)
    eligibility_answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    eligibility_reason: Mapped[str] = mapped_column(sa.Text, default="")
    screened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    screened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    call: Mapped[Call] = relationship()
    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    municipality_org: Mapped[Organisation] = relationship(foreign_keys=[municipality_org_id])
    service_types: Mapped[list[ServiceType]] = relationship(secondary=application_service_type,
                                                            order_by="ServiceType.sort_order")
    positions: Mapped[list[StaffPosition]] = relationship(back_populates="application", order_by="StaffPosition.position",
                                                          cascade="all, delete-orphan")
    hires: Mapped[list[PlannedHire]] = relationship(back_populates="application", cascade="all, delete-orphan")
    budget_lines: Mapped[list[BudgetLine]] = relationship(back_populates="application", order_by="BudgetLine.position",
                                                          cascade="all, delete-orphan")
    submissions: Mapped[list[ApplicationSubmission]] = relationship(back_populates="application",
                                                                    order_by="ApplicationSubmission.number")
    assignments: Mapped[list[ReviewAssignment]] = relationship(back_populates="application",
                                                               order_by="ReviewAssignment.id")

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.UniqueConstraint("call_id", "organisation_id", "municipality_org_id", name="uq_application_call_org_municipality"),
        sa.CheckConstraint("duration_months IS NULL OR (duration_months >= 1 AND duration_months <= 60)",
                           name="duration_range"),
        sa.CheckConstraint("beneficiaries_per_month IS NULL OR beneficiaries_per_month >= 0", name="beneficiaries"),
        sa.CheckConstraint("certified_caregivers IS NULL OR certified_caregivers >= 0", name="caregivers"),
        sa.CheckConstraint("cofinancing_eur IS NULL OR cofinancing_eur >= 0", name="cofinancing"),
        sa.CheckConstraint("total_eur >= 0 AND requested_eur >= 0", name="amounts"),
    )

    @property
    def total_staff(self) -> int:
        return sum(p.count for p in self.positions)

    @property
    def cofinancing_pct(self) -> Decimal | None:
        if not self.total_eur or self.cofinancing_eur is None:
            return None
        return (self.cofinancing_eur * 100 / self.total_eur).quantize(Decimal("0.01"))


class StaffPosition(Base):
    """A row of the staffing plan."""

    __tablename__ = "application_position"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(sa.String(200))
    count: Mapped[int] = mapped_column()

    application: Mapped[Application] = relationship(back_populates="positions")

    __table_args__ = (sa.CheckConstraint("count >= 1", name="count_positive"),)


class PlannedHire(Base):
    """Planned hires from one hard-to-employ category."""

    __tablename__ = "application_hire"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("hard_to_employ_category.id"))
    count: Mapped[int] = mapped_column()

    application: Mapped[Application] = relationship(back_populates="hires")
    category: Mapped[HardToEmployCategory] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("application_id", "category_id", name="uq_application_hire_category"),
        sa.CheckConstraint("count >= 1", name="count_positive"),
    )


class BudgetLine(Base):
    """quantity × unit cost × months = amount (computed on the server, to the cent)."""

    __tablename__ = "application_budget_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    category: Mapped[BudgetCategory] = mapped_column(enum_column(BudgetCategory, "budget_category"))
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    quantity: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    unit_cost_eur: Mapped[Decimal] = mapped_column(MONEY)
    months: Mapped[int] = mapped_column(default=1)
    amount_eur: Mapped[Decimal] = mapped_column(MONEY)

    application: Mapped[Application] = relationship(back_populates="budget_lines")

    __table_args__ = (
        sa.CheckConstraint("quantity > 0 AND unit_cost_eur >= 0 AND months >= 1 AND amount_eur >= 0", name="line_values"),
    )


class ApplicationSubmission(Base):
    """What was submitted, as it was."""

    __tablename__ = "application_submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id"), index=True)
    number: Mapped[int] = mapped_column()
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    application: Mapped[Application] = relationship(back_populates="submissions")
    submitted_by: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("application_id", "number", name="uq_application_submission_number"),)


class Conflict(enum.StrEnum):
    UNDECLARED = "undeclared"
    NONE = "none"
    DECLARED = "declared"


class ReviewAssignment(Base):
    """A reviewer assigned to an application. A declared conflict of interest ends the assignment
    (kept, never deleted) and asks for a replacement."""

    __tablename__ = "review_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    assigned_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    conflict: Mapped[Conflict] = mapped_column(enum_column(Conflict, "review_conflict"), default=Conflict.UNDECLARED)
    conflict_note: Mapped[str] = mapped_column(sa.Text, default="")
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship(back_populates="assignments")
    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
    reviews: Mapped[list[Review]] = relationship(back_populates="assignment", order_by="Review.version")

    __table_args__ = (sa.UniqueConstraint("application_id", "reviewer_id", name="uq_review_assignment_reviewer"),)

    @property
    def current(self) -> Review | None:
        return self.reviews[-1] if self.reviews else None


class Review(Base):
    """One submitted score sheet. A rescore by the chair adds the next version with who and why;
    earlier versions stay."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("review_assignment.id"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    total: Mapped[Decimal] = mapped_column(TOTAL)
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(sa.Text, default="")

    assignment: Mapped[ReviewAssignment] = relationship(back_populates="reviews")
    submitted_by: Mapped[User] = relationship()
    scores: Mapped[list[CriterionScore]] = relationship(back_populates="review", order_by="CriterionScore.id",
                                                        cascade="all")

    __table_args__ = (sa.UniqueConstraint("assignment_id", "version", name="uq_review_version"),)


class CriterionScore(Base):
    __tablename__ = "criterion_score"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(sa.ForeignKey("review.id"), index=True)
    criterion_id: Mapped[int] = mapped_column(sa.ForeignKey("rubric_criterion.id"))
    score: Mapped[Decimal] = mapped_column(SCORE)
    justification: Mapped[str] = mapped_column(sa.Text)

    review: Mapped[Review] = relationship(back_populates="scores")
    criterion: Mapped[RubricCriterion] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("review_id", "criterion_id", name="uq_criterion_score"),
        sa.CheckConstraint("score >= 0", name="score_not_negative"),
    )


class Moderation(Base):
    """The score the chair agreed after a discrepancy, with reasons (versions kept)."""

    __tablename__ = "moderation"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id"), index=True)
    score: Mapped[Decimal] = mapped_column(TOTAL)
    reason: Mapped[str] = mapped_column(sa.Text)
    by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    by: Mapped[User] = relationship()

    __table_args__ = (sa.CheckConstraint("score >= 0", name="score_not_negative"),)


class Outcome(enum.StrEnum):
    AWARD = "award"
    RESERVE = "reserve"
    REJECT = "reject"


class AwardDecision(Base):
    """A decision on an application. A later decision (e.g. a reserve later funded) is a new row;
    the newest is in force."""

    __tablename__ = "award_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id"), index=True)
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome, "award_outcome"))
    amount_eur: Mapped[Decimal | None] = mapped_column(MONEY)
    conditions: Mapped[str] = mapped_column(sa.Text, default="")
    reasons: Mapped[str] = mapped_column(sa.Text)
    final_score: Mapped[Decimal | None] = mapped_column(TOTAL)
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[Application] = relationship()
    decided_by: Mapped[User] = relationship()

    __table_args__ = (
        sa.CheckConstraint("(outcome = 'award' AND amount_eur > 0) OR (outcome != 'award' AND amount_eur IS NULL)",
                           name="award_amount"),
    )
