"""WSGI entry point: `gunicorn hello.wsgi:application`, or mod_wsgi with python-home=DEST/venv."""
from hello import app as application  # noqa: F401
