"""From month-level figures to periods, by each indicator's measure — one rule for every kind of period:

- **stock** (BEN, HTE, MUN and the shares computed from them): the value at the period's *evaluation month* — its
  last month, or the last month asked for when the period is still running. Two periods ending in the same month
  (2026-12, 2026-Q4, 2026-H2, 2026) therefore show the same stock. Each grant contributes its latest accepted month
  at or before the evaluation month, carried at most the indicator's `carry_months`; the observation says how many
  grants were current (reported that month), carried (an earlier month) or missing (active, nothing within the
  window).
- **flow** (BEN_NEW, HTE_NEW): the sum of the months of the period up to its evaluation month.
- **cumulative** (BEN_CUM, HTE_CUM, COMMITTED, DISBURSED): the sum of every month since the programme's start up to
  the evaluation month — it never decreases.
- **ratio** (BEN_FEMALE, HTE_FEMALE, COMMITTED_PCT, DISBURSED_PCT, ONTIME): a share of two figures at the same
  instant.

Each observation carries `as_of_month`: the month the value stands for."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from portal.indicators.aggregate import Row, month_index

HUNDRED = Decimal("100")


@dataclass(frozen=True)
class Period:
    period_type: str
    key: str
    start: date
    end: date
    evaluation: int  # month index
    first: int  # month index of its first month


def periods_of(rows: Iterable[tuple[str, str, date, date]], last: date) -> list[Period]:
    last_index = month_index(last)
    return [Period(ptype, key, start, end, min(month_index(end), last_index), month_index(start))
            for ptype, key, start, end in rows]


@dataclass
class Series:
    """Month-level values of one figure for every (dimension, category): month index → values."""
    months: dict[tuple[str, Any], dict[int, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    _sums: dict = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[Row], **extra_key: Any) -> Series:
        series = cls()
        for row in rows:
            if any(row.values.get(k) != v for k, v in extra_key.items()):
                continue
            series.months[(row.dimension, row.category)][row.month] = row.values
        return series

    def keys(self) -> list[tuple[str, Any]]:
        return list(self.months)

    def at(self, key: tuple[str, Any], month: int) -> dict[str, Any] | None:
        return self.months.get(key, {}).get(month)

    def total(self, key: tuple[str, Any], column: str, first: int, last: int) -> int | Decimal | None:
        """Sum of a column over the months [first, last]; None when no month in it has a row. Prefix sums, built
        once per (key, column), answer each period in logarithmic time."""
        prepared = self._sums.get((key, column))
        if prepared is None:
            months = self.months.get(key, {})
            order = sorted(m for m in months if months[m].get(column) is not None)
            running, sums = 0, []
            for month in order:
                running += months[month][column]
                sums.append(running)
            prepared = self._sums[(key, column)] = (order, sums)
        order, sums = prepared
        low, high = bisect.bisect_left(order, first), bisect.bisect_right(order, last)
        if low >= high:
            return None
        return sums[high - 1] - (sums[low - 1] if low else 0)


class Cumulative:
    """Running sums since the start: the value at a month is the sum of every month up to it."""

    def __init__(self, series: Series, columns: Iterable[str]):
        self.points: dict[tuple[str, Any], tuple[list[int], dict[str, list]]] = {}
        for key, months in series.months.items():
            order = sorted(months)
            sums: dict[str, list] = {}
            for column in columns:
                running, out = 0, []
                for month in order:
                    running += months[month].get(column) or 0
                    out.append(running)
                sums[column] = out
            self.points[key] = (order, sums)

    def at(self, key: tuple[str, Any], column: str, month: int) -> int | Decimal | None:
        """The running sum at `month` (None before the first month with data)."""
        if key not in self.points:
            return None
        order, sums = self.points[key]
        position = bisect.bisect_right(order, month)  # months up to and including `month`
        return sums[column][position - 1] if position else None


def share(part: Any, whole: Any) -> Decimal | None:
    if not whole:
        return None
    return Decimal(part or 0) * HUNDRED / Decimal(whole)
