"""WSGI entry point: `gunicorn wsgi:app` (production) or `flask --app wsgi ...`."""

from portal import create_app

app = create_app()
