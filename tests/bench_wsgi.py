"""For `make bench` only: what gunicorn serves in the side-by-side measurement — the portal on the bench's own
schema (`portal`), and a bare Flask page (`bare`) as the ceiling of the same server on the same machine. The
bare page exists here and nowhere in the production code."""

from __future__ import annotations

import os

from flask import Flask

from config import TestingConfig


def _portal():
    from portal import create_app

    # The same settings and secret as the bench's own process, so the session cookie it signs is valid here.
    return create_app(TestingConfig(DATABASE_URL=os.environ["BENCH_WSGI_URL"], SECRET_KEY=os.environ["BENCH_WSGI_SECRET"]))


bare = Flask("bare")


@bare.get("/")
def hello() -> str:
    return "Hello"


portal = _portal() if os.environ.get("BENCH_WSGI_URL") else None
