"""Locale selection and formatting helpers for templates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, request, session
from flask_babel import format_date, format_decimal, format_percent, format_time
from flask_login import current_user

SKOPJE = ZoneInfo("Europe/Skopje")

LANGUAGE_NAMES = {"mk": "Македонски", "sq": "Shqip", "en": "English"}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if request and request.path.startswith("/api/"):
        # API clients ask with Accept-Language; otherwise the token holder's language.
        asked = request.accept_languages.best_match(languages)
        if asked:
            return asked
        api_user = g.get("api_user")
        if api_user is not None and api_user.preferred_language in languages:
            return api_user.preferred_language
    if current_user and current_user.is_authenticated:
        if current_user.preferred_language in languages:
            return current_user.preferred_language
    chosen = session.get("lang") if request else None
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def local_datetime(value: datetime | None) -> str:
    """Date and time in Skopje, to the minute (deadlines never show seconds): "2 дек. 2026, 17:00"."""
    if value is None:
        return ""
    return f"{format_date(value, 'medium')}, {format_time(value, 'HH:mm')}"


def local_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return format_date(value, "medium")


def _decimal(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def money(value: Decimal | None) -> str:
    """An amount with two decimals and the locale's grouping: 75.000,00 in Macedonian, 75,000.00 in English."""
    if value is None:
        return ""
    return format_decimal(value, "#,##0.00")


def number(value: int | Decimal | float | None, decimals: int = 0) -> str:
    """A count or measure in the locale's notation, with grouping and at most `decimals` decimals."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
    return format_decimal(_decimal(value), pattern)


def decimal(value: Decimal | float | None, decimals: int = 2) -> str:
    return number(value, decimals)


def percent(value: Decimal | float | None, decimals: int = 1, ratio: bool = False) -> str:
    """A percentage in the locale's notation ("12,5 %" in Macedonian). `value` is in percent (12.5) unless
    `ratio` says it is a share (0.125)."""
    if value is None:
        return "—"
    share = _decimal(value) if ratio else _decimal(value) / 100
    return format_percent(share, "#,##0" + ("." + "#" * decimals if decimals else "") + " %")


def score(value: Decimal | None) -> str:
    """A score: up to three decimals, in the locale's notation (83,5 in Macedonian)."""
    if value is None:
        return "—"
    return format_decimal(value, "#,##0.###")


def weight(value: Decimal | None) -> str:
    """A weight or factor: never a thousands separator, so a weight of 1 reads "1" (not "1.000")."""
    if value is None:
        return "—"
    return format_decimal(_decimal(value), "0.###")


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
    app.jinja_env.filters["number"] = number
    app.jinja_env.filters["decimal"] = decimal
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["weight"] = weight
    from portal import labels

    labels.register(app)
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
