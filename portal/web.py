"""Small helpers shared by the thin routes: form errors from services, safe redirects, paging."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request, url_for
from flask_wtf import FlaskForm

from portal.errors import ValidationFailed


def apply_errors(form: FlaskForm, exc: ValidationFailed) -> None:
    """Show a service's field errors on the form, keeping everything the user typed."""
    general = []
    for name, messages in exc.field_errors.items():
        field = getattr(form, name, None)
        if field is None:
            general.extend(messages)
            continue
        field.errors = list(field.errors) + [str(m) for m in messages]
    if general or not exc.field_errors:
        form.form_errors.extend(str(m) for m in (general or [exc.message]))


def safe_next(target: str | None, default_endpoint: str = "main.home") -> str:
    """Only a path of this portal: no scheme, no host, no `//` or `/\\` tricks."""
    if target:
        cleaned = target.replace("\\", "/").strip()
        parts = urlsplit(cleaned)
        if (
            cleaned.startswith("/")
            and not cleaned.startswith("//")
            and not parts.scheme
            and not parts.netloc
            and all(ord(c) >= 32 for c in cleaned)
        ):
            return cleaned
    return url_for(default_endpoint)


def version_of(value) -> int | None:
    """The record version a form carried (a hidden field), or None when it carried none or nonsense."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def page_arg() -> int:
    try:
        # A page beyond the millionth is no page of any list here (and no offset a database takes).
        return min(max(1, int(request.args.get("page", "1"))), 1_000_000)
    except ValueError:
        return 1


def page_size() -> int:
    return current_app.config["PAGE_SIZE"]
