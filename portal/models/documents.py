"""Documents: evidence attached to any object, stored under server-generated keys, versioned."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.orgs import Organisation
from portal.models.users import User


class Document(Base):
    """One version of one document. Replacing a document adds a row with the same `series_id`
    and the next `version`; nothing is overwritten or deleted through the portal."""

    __tablename__ = "document"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    version: Mapped[int] = mapped_column(default=1)
    owner_organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[str] = mapped_column(sa.String(40))
    purpose: Mapped[str] = mapped_column(sa.String(40))
    original_name: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    personal: Mapped[bool] = mapped_column(default=False)
    # None only for evidence sent with a grievance by someone without an account (issue 17).
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[Organisation] = relationship()
    uploaded_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("series_id", "version", name="uq_document_series_version"),
        sa.Index("ix_document_object", "object_type", "object_id"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint("size >= 0", name="size_not_negative"),
    )
