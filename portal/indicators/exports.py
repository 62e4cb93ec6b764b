"""Monitor downloads: observations as CSV (UTF-8 with a BOM, streamed) and an XLSX built with pandas — the
indicator sheet in the World Bank's ISR layout, one sheet per disaggregation, a finance summary and the
definitions. No cell ever starts a formula; numbers stay numbers; no personal data is included."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC
from decimal import Decimal
from typing import Any

import pandas as pd
from flask_babel import gettext as _

from portal import clock
from portal.exports import safe_cell
from portal.indicators.compute import Observation
from portal.indicators.dashboard import Status
from portal.indicators.snapshot import AsOf
from portal.models import Indicator

COLUMNS = ("indicator", "indicator_name", "unit", "period_type", "period", "period_start", "period_end", "dimension",
           "category", "label", "value", "as_of_month", "grants_current", "grants_carried", "grants_missing", "method",
           "suppressed")


def method_label(method: str | None) -> str:
    """How a BEN_UNIQUE value was formed (portal.indicators.unique), in words."""
    return {"exact": _("exact: every grant behind it keeps a service-user register"),
            "estimated": _("estimated: new beneficiaries of the accepted monthly reports (no register)"),
            "mixed": _("mixed: exact for the grants keeping a register, estimated for the others")}.get(method or "", "")


def withheld_label(flag: str | None) -> str:
    """Why a value is not shown (portal.indicators.suppression)."""
    return {"small": _("<5: fewer than 5 people, withheld"),
            "secondary": _("withheld so that a smaller figure cannot be worked out by subtraction")}.get(flag or "", "")


def observation_rows(observations: Iterable[Observation]) -> Iterator[tuple]:
    """Observations as the rows `csv_rows` writes (with the flag of a withheld value)."""
    for o in observations:
        yield (o.indicator, o.period_type, o.period, o.period_start, o.period_end, o.dimension, o.category, o.value,
               o.unit, o.as_of_month, o.grants_current, o.grants_carried, o.grants_missing, o.method, o.suppressed)


def dimension_label(dimension: str) -> str:
    return {"total": _("Total"), "service_type": _("Service type"), "municipality": _("Municipality"),
            "region": _("Planning region"), "sex": _("Sex"), "age_band": _("Age band"), "disability": _("Disability"),
            "hte_category": _("Hard-to-employ group"), "call": _("Call"),
            "grievance_category": _("Grievance category")}.get(dimension, dimension)


def category_label(dimension: str, category: str, label: str) -> str:
    if dimension == "sex":
        return {"female": _("women and girls"), "male": _("men and boys")}.get(category, label)
    if dimension == "disability":
        return {"yes": _("with a disability"), "no": _("without a disability")}.get(category, label)
    return label


CHUNK = 256 * 1024  # bytes per HTTP chunk of the CSV


def filename(as_of: AsOf, fmt: str) -> str:
    """The data's time and version in the file's name, so a saved copy still says which data it holds."""
    stamp = as_of.data_as_of.astimezone(UTC).strftime("%Y-%m-%dT%H%MZ")
    version = f"-v{as_of.data_version}" if as_of.data_version is not None else ""
    live = "-live" if as_of.source == "live" else ""
    return f"ssip-indicators-data-as-of-{stamp}{version}{live}.{fmt}"


def as_of_headers(as_of: AsOf) -> dict[str, str]:
    meta = as_of.as_dict()
    return {"X-Data-As-Of": meta["data_as_of"], "X-Data-Version": str(meta["data_version"] or ""),
            "X-Data-Source": meta["source"]}


def _number(value: Decimal, unit: str) -> float | int:
    return int(value) if unit == "number" else float(value)


def csv_rows(rows: Iterable[tuple], names: dict[str, str], labels: dict[str, dict[str, str]]) -> Iterator[bytes]:
    """The long format, written straight from the database rows a chunk at a time (the response streams; memory
    stays flat). Everything that could carry text typed by someone is neutralised once per distinct value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    safe_names = {code: safe_cell(name) for code, name in names.items()}
    cached: dict[tuple[str, str], tuple[str, str]] = {}
    for n, (code, ptype, period, start, end, dimension, category, value, unit, as_of_month, current, carried,
            missing, method, *withheld) in enumerate(rows, start=1):
        shown = cached.get((dimension, category))
        if shown is None:
            label = category_label(dimension, category, labels.get(dimension, {}).get(category, category))
            shown = cached[(dimension, category)] = (safe_cell(category), safe_cell(label))
        writer.writerow((code, safe_names.get(code, code), unit, ptype, period, start, end, dimension, shown[0], shown[1],
                         "" if value is None else int(value) if unit == "number" else f"{value:.1f}" if unit == "percent"
                         else f"{value:.2f}", str(as_of_month)[:7] if as_of_month else "",
                         "" if current is None else current, "" if carried is None else carried,
                         "" if missing is None else missing, method or "", (withheld[0] if withheld else None) or ""))
        if n % 2000 == 0 and buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _frame(rows: list[list[Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def about(as_of: AsOf, exact: bool = True) -> pd.DataFrame:
    """When the figures were computed and from which data: the analyst's "data as of"."""
    stamp = as_of.as_dict()["data_as_of"]
    source = (_("The snapshot of every indicator, computed then from the accepted reports and the ledger.")
              if as_of.source == "snapshot" else
              _("Computed when the file was downloaded (filtered by place or service type)."))
    return _frame([[_("Indicator figures: data as of (UTC)"), stamp],
                   [_("Data version"), "" if as_of.data_version is None else as_of.data_version],
                   [_("How the figures were computed"), source],
                   [_("Finance summary"), _("Read from the ledger when the file was downloaded (UTC): %(when)s",
                                            when=clock.now().astimezone(UTC).replace(microsecond=0).isoformat())],
                   [_("Method (different people since the start)"), "; ".join(
                       method_label(m) for m in ("exact", "estimated", "mixed"))],
                   [_("Small figures"), _("Exact figures (ministry staff).") if exact else suppression_note()]],
                  [_("Item"), _("Value")])


def suppression_note() -> str:
    return _("Figures counting people are withheld when they are fewer than 5 (shown as <5, with no value); when "
             "only one figure of a breakdown is withheld, the next smallest is withheld too, so that neither can be "
             "worked out from the total.")


def frames(observations: list[Observation], indicators: list[Indicator], statuses: list[Status],
           finance: list[tuple], as_of: AsOf | None = None, exact: bool = True) -> dict[str, pd.DataFrame]:
    """Every sheet as a DataFrame, in the order of the workbook (the ISR sheet first, then when the data is from)."""
    names = {i.code: i.name() for i in indicators}
    isr = _frame([[s.indicator.code, s.indicator.name(), s.indicator.unit, s.indicator.level.value,
                   _number(s.indicator.baseline, s.indicator.unit), s.indicator.baseline_date.isoformat(),
                   None if s.previous is None else _number(s.previous, s.indicator.unit),
                   s.previous_date.isoformat() if s.previous_date else "",
                   None if s.current is None else _number(s.current, s.indicator.unit),
                   s.current_date.isoformat() if s.current_date else "",
                   None if s.indicator.end_target is None else _number(s.indicator.end_target, s.indicator.unit),
                   s.indicator.end_target_date.isoformat() if s.indicator.end_target_date else ""] for s in statuses],
                 [_("Code"), _("Indicator"), _("Unit"), _("Level"), _("Baseline"), _("Baseline date"),
                  _("Previous value"), _("Previous value date"), _("Current value"), _("Current value date"),
                  _("End target"), _("End target date")])
    sheets: dict[str, pd.DataFrame] = {_("Indicators (ISR)"): isr}
    if as_of is not None:
        sheets[_("About these figures")] = about(as_of, exact)
    headers = [_("Code"), _("Indicator"), _("Period type"), _("Period"), _("Category code"), _("Category"), _("Value"),
               _("Unit"), _("Method"), _("Withheld")]
    by_dimension: dict[str, list[list[Any]]] = {}
    # Each label translated once per file, not once per observation (gettext per cell was most of the build's time).
    methods = {m: method_label(m) for m in (None, "exact", "estimated", "mixed")}
    flags = {f: withheld_label(f) for f in (None, "small", "secondary")}
    categories: dict[tuple[str, str, str], str] = {}
    for o in observations:  # one sheet per disaggregation, built straight from the observations
        category = categories.get((o.dimension, o.category, o.label))
        if category is None:
            category = categories[(o.dimension, o.category, o.label)] = category_label(o.dimension, o.category, o.label)
        method = methods[o.method] if o.method in methods else method_label(o.method)
        flag = flags[o.suppressed] if o.suppressed in flags else withheld_label(o.suppressed)
        by_dimension.setdefault(o.dimension, []).append([
            o.indicator, names.get(o.indicator, o.indicator), o.period_type, o.period, o.category, category,
            None if o.value is None else _number(o.value, o.unit), o.unit, method, flag])
    for dimension in list(by_dimension):
        sheets[dimension_label(dimension)[:31]] = _frame(by_dimension.pop(dimension), headers)
    sheets[_("Finance summary")] = _frame([[label, None if value is None else float(value), *what]
                                           for label, value, *what in finance],
                                          [_("Item"), _("EUR"), _("What it is")][:2 + max((len(f) - 2 for f in finance),
                                                                                         default=0)])
    sheets[_("Definitions")] = _frame(
        [[i.code, i.name(), i.definition(), i.unit, i.level.value, ", ".join(dimension_label(d) for d in i.disaggregations),
          i.source, ", ".join(f"{year}: {value}" for year, value in sorted((i.targets or {}).items()))] for i in indicators],
        [_("Code"), _("Indicator"), _("Definition"), _("Unit"), _("Level"), _("Disaggregations"), _("Source"),
         _("Yearly targets")])
    return sheets


def xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """Write the frames as the workbook's XML, streamed (`portal.xlsx_stream`: several times faster than openpyxl's
    write-only mode at national scale): strings are text cells, never formulas, and anything that could start one
    is neutralised; numbers are numbers; the header row is bold."""
    from portal.xlsx_stream import workbook

    def rows(frame: pd.DataFrame):
        for row in frame.itertuples(index=False, name=None):
            yield [safe_cell(value) if isinstance(value, str) else value for value in row]

    return workbook([(title[:31], [safe_cell(str(name)) for name in frame.columns], rows(frame))
                     for title, frame in sheets.items()])


def csv_copy(session, refresh_id: int, filters, names: dict[str, str], labels: dict[str, dict[str, str]],
             exact: bool = True) -> Iterator[bytes]:
    """PostgreSQL: the same CSV written by the database itself (`COPY … TO STDOUT`), streamed as it comes. `exact`
    (ministry staff) as in `csv_copy_query`."""
    connection = session.connection().connection.driver_connection
    query = csv_copy_query(refresh_id, filters, names, labels, exact)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    csv.writer(buffer).writerow(COLUMNS)
    yield buffer.getvalue().encode("utf-8")
    pending = bytearray()
    with connection.cursor() as cursor, cursor.copy(query) as copy:
        for data in copy:  # one row per COPY message: gathered into large chunks, not one HTTP chunk per row
            pending += data
            if len(pending) >= CHUNK:
                yield bytes(pending)
                pending.clear()
    if pending:
        yield bytes(pending)


def csv_copy_query(refresh_id: int, filters, names: dict[str, str], labels: dict[str, dict[str, str]],
                   exact: bool = True):
    """The `COPY … TO STDOUT` statement of the CSV (psycopg SQL). Names and labels are neutralised in Python and passed
    as quoted literals; category codes are neutralised in SQL. `exact` (ministry staff): every value, no flag;
    otherwise the suppression flags stored at the refresh (`indicator_value.withheld`): no value where one is set,
    and the flag in the `suppressed` column, as `csv_rows` writes them. Empty cells are NULLs (COPY writes an empty
    string as `""`, `csv.writer` as nothing)."""
    from psycopg import sql

    names_rows = [sql.SQL("({}, {})").format(sql.Literal(code), sql.Literal(safe_cell(name))) for code, name in names.items()]
    label_rows = [sql.SQL("({}, {}, {})").format(sql.Literal(dimension), sql.Literal(code),
                                                  sql.Literal(safe_cell(category_label(dimension, code, label))))
                  for dimension, mapping in labels.items() for code, label in mapping.items()]
    for dimension, codes in (("sex", ("female", "male")), ("disability", ("yes", "no"))):
        label_rows += [sql.SQL("({}, {}, {})").format(sql.Literal(dimension), sql.Literal(code),
                                                      sql.Literal(safe_cell(category_label(dimension, code, code))))
                       for code in codes]
    where = [sql.SQL("v.refresh_id = {}").format(sql.Literal(refresh_id)),
             sql.SQL("v.period_type = ANY({})").format(sql.Literal(list(filters.period_types)))]
    if filters.codes:
        where.append(sql.SQL("v.indicator = ANY({})").format(sql.Literal(list(filters.codes))))
    if filters.start:
        where.append(sql.SQL("v.period_end >= {}").format(sql.Literal(filters.start)))
    if filters.end:
        where.append(sql.SQL("v.period_start <= {}").format(sql.Literal(filters.end)))
    value = "v.value" if exact else "(CASE WHEN v.withheld IS NULL THEN v.value END)"
    flag = "NULL" if exact else "v.withheld"
    dangerous = "left(v.category, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r')"
    query = sql.SQL(
        "COPY (WITH names(code, name) AS (VALUES {names}), labels(dimension, code, label) AS (VALUES {labels}) "
        "SELECT v.indicator, n.name, v.unit, v.period_type, v.period, v.period_start, v.period_end, v.dimension, "
        "CASE WHEN " + dangerous + " THEN '''' || v.category ELSE v.category END, "
        "COALESCE(l.label, CASE WHEN " + dangerous + " THEN '''' || v.category ELSE v.category END), "
        "CASE v.unit WHEN 'number' THEN trunc(" + value + ")::bigint::text "
        "WHEN 'percent' THEN to_char(round(" + value + ", 1), 'FM999999999990.0') ELSE " + value + "::text END, "
        "to_char(v.as_of_month, 'YYYY-MM'), v.grants_current, v.grants_carried, v.grants_missing, v.method, "
        + flag + " "
        "FROM indicator_value v JOIN names n ON n.code = v.indicator "
        "LEFT JOIN labels l ON l.dimension = v.dimension AND l.code = v.category "
        "WHERE {where} ORDER BY v.id) TO STDOUT WITH (FORMAT csv)").format(
        names=sql.SQL(", ").join(names_rows), labels=sql.SQL(", ").join(label_rows or [sql.SQL("('', '', '')")]),
        where=sql.SQL(" AND ").join(where))
    return query
