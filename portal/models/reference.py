"""Editable catalogues: service types (2019 Law on Social Protection) and hard-to-employ groups."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models._types import Multilingual


class ServiceCategory(Multilingual, Base):
    """One of the six categories of social services in the 2019 Law."""

    __tablename__ = "service_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_mk: Mapped[str] = mapped_column(sa.String(200))
    name_sq: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    service_types: Mapped[list[ServiceType]] = relationship(
        back_populates="category", order_by="ServiceType.sort_order"
    )


class ServiceType(Multilingual, Base):
    __tablename__ = "service_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("service_category.id"), index=True)
    name_mk: Mapped[str] = mapped_column(sa.String(200))
    name_sq: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    category: Mapped[ServiceCategory] = relationship(back_populates="service_types")


class HardToEmployCategory(Multilingual, Base):
    __tablename__ = "hard_to_employ_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_mk: Mapped[str] = mapped_column(sa.String(200))
    name_sq: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    requires_note: Mapped[bool] = mapped_column(default=False)
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
