from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from . import session as sess


def passenger_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Redirect to the login page (keeping where the user wanted to go) unless logged in."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not sess.is_logged_in(request.session):
            login = reverse("passengers:login")
            if request.method == "GET" and request.path != "/":
                login += "?" + urlencode({"next": request.get_full_path()})
            return redirect(login)
        return view(request, *args, **kwargs)

    return wrapper
