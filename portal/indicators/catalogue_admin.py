"""Administrators correct the indicator catalogue: names and definitions in three languages, level, baseline,
yearly targets, end target, source. The code, the unit and the computation stay as shipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit
from portal.errors import Conflict, NotAllowed, ValidationFailed
from portal.models import Indicator, IndicatorLevel, User

FIELDS = ("name_mk", "name_sq", "name_en", "definition_mk", "definition_sq", "definition_en", "level", "baseline",
          "baseline_date", "targets", "end_target", "end_target_date", "disaggregations", "source", "active", "iati_result",
          "carry_months")

#: The disaggregations each indicator can be computed by (what its code supports).
SUPPORTED = {
    "BEN": ("service_type", "municipality", "region", "sex", "age_band", "disability"),
    "BEN_CUM": ("service_type", "municipality", "region", "sex", "age_band", "disability"),
    "BEN_NEW": ("service_type", "municipality", "region", "sex", "age_band", "disability"),
    "BEN_UNIQUE": ("service_type", "municipality", "region", "sex"),
    "BEN_FEMALE": ("municipality", "region"),
    "HTE": ("hte_category", "sex", "municipality", "region"), "HTE_FEMALE": ("municipality", "region"),
    "HTE_NEW": ("hte_category", "sex", "municipality", "region"),
    "HTE_CUM": ("hte_category", "sex", "municipality", "region"),
    "MUN": ("region", "service_type"), "GRANTS": ("region", "municipality"), "ONTIME": ("region",),
    "COMMITTED": ("call", "municipality", "region", "service_type"),
    "DISBURSED": ("call", "municipality", "region", "service_type"), "COMMITTED_PCT": (), "DISBURSED_PCT": (),
    "GRM_RECEIVED": ("municipality", "region", "grievance_category"),
    "GRM_ACK_ONTIME": ("municipality", "region", "grievance_category"),
    "GRM_RESOLVED_ONTIME": ("municipality", "region", "grievance_category"),
}


@dataclass
class Values:
    texts: dict[str, str]
    level: str
    baseline: str
    baseline_date: str
    targets: str
    end_target: str
    end_target_date: str
    active: bool
    disaggregations: list[str]
    iati_result: bool = True
    carry_months: str = ""


def values_from(form: Any) -> Values:
    texts = {name: (getattr(form, name).data or "").strip() for name in (
        "name_mk", "name_sq", "name_en", "definition_mk", "definition_sq", "definition_en", "source")}
    return Values(texts, form.level.data or "", form.baseline.data or "", form.baseline_date.data or "",
                  form.targets.data or "", form.end_target.data or "", form.end_target_date.data or "", bool(form.active.data),
                  list(form.disaggregations.data or []), bool(form.iati_result.data), form.carry_months.data or "")


def fill(form: Any, indicator: Indicator) -> None:
    form.version_id.data = str(indicator.version_id)
    form.level.data = indicator.level.value
    form.baseline.data = str(indicator.baseline)
    form.baseline_date.data = indicator.baseline_date.isoformat()
    form.targets.data = "\n".join(f"{year}; {value}" for year, value in sorted((indicator.targets or {}).items()))
    form.end_target.data = "" if indicator.end_target is None else str(indicator.end_target)
    form.end_target_date.data = indicator.end_target_date.isoformat() if indicator.end_target_date else ""
    form.active.data = indicator.active
    form.iati_result.data = indicator.iati_result
    form.carry_months.data = str(indicator.carry_months)
    form.disaggregations.data = list(indicator.disaggregations or [])


def choices(indicator: Indicator) -> list[tuple[str, str]]:
    from portal.indicators.exports import dimension_label

    return [(d, dimension_label(d)) for d in SUPPORTED.get(indicator.code, ())]


def _decimal(text: str, field: str, errors: dict) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        errors[field] = [_("Enter a number, for example 1600 or 55.5.")]
        return None
    if not value.is_finite() or value < 0:
        errors[field] = [_("Enter a number, for example 1600 or 55.5.")]
        return None
    return value.quantize(Decimal("0.01"))


def _date(text: str, field: str, errors: dict) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        errors[field] = [_("Enter a date like 2028-12-31.")]
        return None


def parse_targets(text: str, errors: dict) -> dict[str, str]:
    targets: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace(":", ";").split(";")]
        if len(parts) != 2 or not parts[0].isdigit() or not 2018 <= int(parts[0]) <= 2040:
            errors["targets"] = [_("Line %(n)d: write the year and the target, for example 2026; 2000.", n=number)]
            return {}
        value = _decimal(parts[1], "targets", errors)
        if value is None:
            errors["targets"] = [_("Line %(n)d: write the year and the target, for example 2026; 2000.", n=number)]
            return {}
        targets[parts[0]] = format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return targets


def update(session: Session, actor: User, indicator: Indicator, values: Values, version_id: int) -> Indicator:
    if not access.can_manage_indicators(actor):
        raise NotAllowed()
    if version_id != indicator.version_id:
        raise Conflict()
    errors: dict[str, list[str]] = {}
    # Macedonian is required; an empty Albanian or English name is shown in Macedonian.
    if not values.texts["name_mk"]:
        errors["name_mk"] = [_("This field is required.")]
    if values.level not in {level.value for level in IndicatorLevel}:
        errors["level"] = [_("Choose the level.")]
    baseline = _decimal(values.baseline, "baseline", errors)
    baseline_date = _date(values.baseline_date, "baseline_date", errors)
    targets = parse_targets(values.targets, errors)
    end_target = _decimal(values.end_target, "end_target", errors) if values.end_target.strip() else None
    end_date = _date(values.end_target_date, "end_target_date", errors) if values.end_target_date.strip() else None
    if (end_target is None) != (end_date is None) and "end_target" not in errors and "end_target_date" not in errors:
        errors["end_target_date"] = [_("Give the end target and its date together.")]
    supported = SUPPORTED.get(indicator.code, ())
    if any(d not in supported for d in values.disaggregations):
        errors["disaggregations"] = [_("Choose among the disaggregations this indicator can be computed by.")]
    carry = indicator.carry_months
    if indicator.measure == "stock" and values.carry_months.strip():
        raw = values.carry_months.strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 12:
            errors["carry_months"] = [_("Enter a whole number of months from 1 to 12.")]
        else:
            carry = int(raw)
    if errors:
        raise ValidationFailed(field_errors=errors)
    before = audit.snapshot(indicator, list(FIELDS))
    for name, text in values.texts.items():
        setattr(indicator, name, text)
    indicator.level = IndicatorLevel(values.level)
    indicator.baseline, indicator.baseline_date, indicator.targets = baseline, baseline_date, targets
    indicator.end_target, indicator.end_target_date, indicator.active = end_target, end_date, values.active
    indicator.disaggregations = [d for d in supported if d in values.disaggregations]
    indicator.iati_result = values.iati_result
    indicator.carry_months = carry
    after = audit.snapshot(indicator, list(FIELDS))
    if before != after:
        audit.record(session, actor, "indicator.updated", indicator, before=before, after=after)
    return indicator
