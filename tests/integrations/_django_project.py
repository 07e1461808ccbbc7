"""The smallest Django project the Django tests need: settings, URLs and views, in one module.

``configure()`` sets Django up once per process (file-backed SQLite in a temporary directory,
so the async views' database thread sees the same tables) and creates the tables of the auth
and session apps.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

import amplitude_legacy as Amplitude
from amplitude_legacy.integrations.django import get_client

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "amplitude_legacy.integrations.django.AmplitudeMiddleware",
]


def configure() -> None:
    """Configure Django for this process (a no-op after the first call)."""
    if settings.configured:
        return
    directory = tempfile.mkdtemp(prefix="amplitude-django-tests-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    db_path = os.path.join(directory, "db.sqlite3")
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only-secret",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=MIDDLEWARE,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _track(request: HttpRequest, event_type: str) -> HttpResponse:
    get_client().logEvent({"event_type": event_type, "user_id": "user-12345"})
    return JsonResponse({"context": dict(Amplitude.current_context())})


def signup(request: HttpRequest) -> HttpResponse:
    """Logs "Signed Up" and answers with the context it saw."""
    return _track(request, "Signed Up")


def item(request: HttpRequest, item_id: int) -> HttpResponse:
    """A route with a parameter."""
    return JsonResponse({"item": item_id, "context": dict(Amplitude.current_context())})


def healthz(request: HttpRequest) -> HttpResponse:
    """A health check: answers with the context it saw (none: the path is skipped)."""
    return JsonResponse({"context": dict(Amplitude.current_context())})


def boom(request: HttpRequest) -> HttpResponse:
    """A view that fails."""
    raise RuntimeError("the view failed")


async def async_signup(request: HttpRequest) -> HttpResponse:
    """The async twin of ``signup``."""
    get_client().logEvent({"event_type": "Signed Up Async", "user_id": "user-12345"})
    return JsonResponse({"context": dict(Amplitude.current_context())})


urlpatterns: Any = [
    path("signup", signup),
    path("items/<int:item_id>", item),
    path("healthz", healthz),
    path("boom", boom),
    path("async/signup", async_signup),
]
