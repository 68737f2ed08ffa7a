"""Settings for the example site, deployed by wheelsfx into a Capistrano-style tree:

    /srv/mysite/releases/N/            one release (./mysite.sfx -d ...)
        mysite/                        this project tree (BASE_DIR)
        static.in/0/                   the artifact's first --extra-static folder (../assets)
        static/                        collectstatic's output, per release
        environment.json -> ../../shared/environment.json
    /srv/mysite/shared/                what outlives releases: environment.json, the database
    /srv/mysite/current -> releases/N

Everything that differs between servers comes from the environment, which the release's
Python fills from environment.json at every start.
"""

import os
from pathlib import Path

# resolve(): started through the `current` symlink, paths still name the release itself, so
# a running release never follows `current` to the next one.
BASE_DIR = Path(__file__).resolve().parent.parent
RELEASE_DIR = BASE_DIR.parent

# No default: a server without its environment.json must not run with a known key.
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware, as WhiteNoise asks: gunicorn serves the static files.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
    }
]

# The database outlives releases, so by default it lives in the layout's shared folder.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", str(RELEASE_DIR.parent.parent / "shared" / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
# Collected per release (the collectstatic hook runs before the release is activated), so
# switching `current` switches code and static files together.
STATIC_ROOT = RELEASE_DIR / "static"
# wheelsfx packs each --extra-static folder as static.in/N beside the project tree.
STATICFILES_DIRS = [RELEASE_DIR / "static.in" / "0"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (site.3f2a....css), so a browser never mixes two releases' files.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
