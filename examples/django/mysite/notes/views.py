from django.conf import settings
from django.shortcuts import render

from .models import Note


def index(request):
    return render(
        request,
        "notes/index.html",
        {"notes": Note.objects.all(), "release": settings.RELEASE_DIR.name},
    )
