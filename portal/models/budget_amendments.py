"""Budget amendments (issue 18): the provider asks to move money between the approved budget lines of its grant
(the total never changes), with a reason; a finance officer or administrator approves or rejects it.

Nothing is overwritten: each amendment is a numbered row of the grant (1, 2, …) holding, for every budget line, the
amount in force before and the amount asked for. The approved budget in force is the application's budget lines as
awarded, replaced line by line by the newest approved amendment (`portal.finance_reports.amendments`). At most one
amendment per grant waits for a decision (a partial unique index)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models._types import enum_column
from portal.models.applications import BudgetLine
from portal.models.calls import MONEY
from portal.models.grants import GrantAgreement
from portal.models.users import User


class AmendmentStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class BudgetAmendment(Base):
    __tablename__ = "budget_amendment"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("grant_agreement.id"), index=True)
    number: Mapped[int] = mapped_column()  # 1 for the grant's first amendment
    status: Mapped[AmendmentStatus] = mapped_column(enum_column(AmendmentStatus, "budget_amendment_status"),
                                                    default=AmendmentStatus.PENDING)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str] = mapped_column(sa.Text, default="")
    version_id: Mapped[int] = mapped_column(default=1)

    agreement: Mapped[GrantAgreement] = relationship()
    lines: Mapped[list[BudgetAmendmentLine]] = relationship(back_populates="amendment",
                                                            order_by="BudgetAmendmentLine.id",
                                                            cascade="all, delete-orphan")
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.UniqueConstraint("agreement_id", "number", name="uq_budget_amendment_number"),
        sa.CheckConstraint("number >= 1", name="number"),
        sa.Index("uq_budget_amendment_one_pending", "agreement_id", unique=True,
                 sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'")),
    )


class BudgetAmendmentLine(Base):
    """One approved budget line in one amendment: the amount in force when it was asked for, and the new one."""

    __tablename__ = "budget_amendment_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    amendment_id: Mapped[int] = mapped_column(sa.ForeignKey("budget_amendment.id", ondelete="CASCADE"), index=True)
    budget_line_id: Mapped[int] = mapped_column(sa.ForeignKey("application_budget_line.id"), index=True)
    amount_before_eur: Mapped[Decimal] = mapped_column(MONEY)
    amount_eur: Mapped[Decimal] = mapped_column(MONEY)

    amendment: Mapped[BudgetAmendment] = relationship(back_populates="lines")
    budget_line: Mapped[BudgetLine] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("amendment_id", "budget_line_id", name="uq_budget_amendment_line"),
        sa.CheckConstraint("amount_eur >= 0 AND amount_before_eur >= 0", name="amounts_not_negative"),
    )
