"""Locale selection and formatting helpers for templates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, session
from flask_babel import format_date, format_datetime, format_decimal
from flask_login import current_user

SKOPJE = ZoneInfo("Europe/Skopje")

LANGUAGE_NAMES = {"mk": "Македонски", "sq": "Shqip", "en": "English"}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if current_user and current_user.is_authenticated:
        if current_user.preferred_language in languages:
            return current_user.preferred_language
    chosen = session.get("lang") if request else None
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def local_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(value, "medium")


def local_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return format_date(value, "medium")


def money(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format_decimal(value, "#,##0.00")


def score(value: Decimal | None) -> str:
    """A score or weight: up to three decimals, in the locale's notation (83,5 in Macedonian)."""
    if value is None:
        return "—"
    return format_decimal(value, "#,##0.###")


def filesize(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{format_decimal(size / 1024, '#,##0')} KB"
    return f"{format_decimal(size / (1024 * 1024), '#,##0.0')} MB"


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = local_datetime
    app.jinja_env.filters["date"] = local_date
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["filesize"] = filesize
    app.jinja_env.filters["score"] = score
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES

    @app.context_processor
    def _globals() -> dict:
        from flask_babel import get_locale
        from flask_babel import gettext as _

        from portal.admin.services import role_label
        from portal.organisations.services import kind_label, legal_form_label, status_label

        return {
            "current_locale": str(get_locale() or "mk"),
            "agency_name": current_app.config.get("PORTAL_AGENCY_NAME")
            or _("Ministry of Social Policy, Demography and Youth"),
            "role_label": role_label,
            "kind_label": kind_label,
            "legal_form_label": legal_form_label,
            "org_status_label": status_label,
        }
