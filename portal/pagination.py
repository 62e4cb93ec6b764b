"""One way to paginate every list: two queries per page (count and rows), whatever its length."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.total, self.page * self.per_page)


def paginate(session: Session, query: sa.Select[Any], page: int, per_page: int, *, scalars: bool = True) -> Page[Any]:
    page = max(1, page)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    last = max(1, math.ceil(total / per_page))
    page = min(page, last)
    rows_query = query.limit(per_page).offset((page - 1) * per_page)
    result = session.execute(rows_query)
    items = list(result.scalars().unique()) if scalars else list(result.all())
    return Page(items=items, page=page, per_page=per_page, total=total)


def page_of(items: list[T], page: int, per_page: int) -> Page[T]:
    """A page of a list already read whole (say, months a chart shows too): the same `Page`, no statement."""
    last = max(1, math.ceil(len(items) / per_page))
    page = min(max(1, page), last)
    return Page(items=items[(page - 1) * per_page:page * per_page], page=page, per_page=per_page, total=len(items))
