"""Validation at the edge, once for every route: what no form or filter of the portal can mean.

- Control characters (NUL and the other C0 controls except tab, line feed and carriage return, and
  DEL) in any query parameter or form field, name or value → 400 naming the field. PostgreSQL refuses
  NUL in text, and nothing a person types contains them.
- Integer query parameters read with `request.args.get(name, type=int)` outside the range of the
  database's integer columns → 400 naming the parameter (instead of a database error).
- Integer path segments (`<int:id>`) beyond that range match no route → 404.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request
from flask.wrappers import Request
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

from portal.errors import DomainError

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A whole number of more than 18 digits fits no column (and no identifier people type: a personal number
# has 13 digits, a tax number 13, an IBAN has letters).
HUGE_INTEGER = re.compile(r"\s*[+-]?\d{19,}\s*")
#: Filters and links of the portal stay far below this; longer values are refused, not searched for.
MAX_QUERY_VALUE = 1000


class BadInput(DomainError):
    status = 400
    default_message = _l("Part of the request is not valid. Go back, check what you entered and try again.")


def _shown(name: str) -> str:
    """The field's name as it can be shown back (its own control characters removed, shortened)."""
    return CONTROL.sub("", name)[:60] or "?"


def control_characters(name: str) -> BadInput:
    return BadInput(_l("The field “%(field)s” contains a control character (such as a NUL byte) that no text "
                       "can contain. Remove it and try again.", field=_shown(name)), field_errors={_shown(name): []})


def out_of_range(name: str) -> BadInput:
    return BadInput(_l("The value of “%(field)s” is not a whole number between %(low)s and %(high)s.",
                       field=_shown(name), low=INT_MIN, high=INT_MAX), field_errors={_shown(name): []})


class GuardedMultiDict(ImmutableMultiDict):
    """Query and form values whose `get(name, type=int)` refuses numbers no column can hold."""

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:  # noqa: A002 (werkzeug's signature)
        if type is int:
            raw = super().get(key)
            if raw is None:
                return default
            try:
                value = int(raw)
            except (TypeError, ValueError):
                return default
            if not INT_MIN <= value <= INT_MAX:
                raise out_of_range(str(key))
            return value
        return super().get(key, default, type)


class GuardedRequest(Request):
    parameter_storage_class = GuardedMultiDict


class BoundedIntegerConverter(IntegerConverter):
    """`<int:…>` within the range of an integer primary key; anything longer is no page of ours."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = INT_MAX, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def too_long(name: str) -> BadInput:
    return BadInput(_l("The value of “%(field)s” is too long (at most %(n)s characters).", field=_shown(name),
                       n=MAX_QUERY_VALUE), field_errors={_shown(name): []})


def check_request() -> None:
    """Refuse control characters in every query parameter and form field (names and values), whole
    numbers longer than any column holds, and overlong query parameters."""
    sources = [request.args]
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
        for name, upload in request.files.items(multi=True):
            if CONTROL.search(name) or CONTROL.search(upload.filename or ""):
                raise control_characters(name)
    for source in sources:
        for name, value in source.items(multi=True):
            if CONTROL.search(name) or CONTROL.search(value):
                raise control_characters(name)
            if HUGE_INTEGER.fullmatch(value):
                raise out_of_range(name)
    for name, value in request.args.items(multi=True):
        if len(value) > MAX_QUERY_VALUE or len(name) > 100:
            raise too_long(name)


def init_guard(app: Flask) -> None:
    """Before the blueprints are registered (the integer converter applies to their rules)."""
    app.request_class = GuardedRequest
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.before_request(check_request)
