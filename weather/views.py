from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods, require_safe

from flightsite.errors import form_again
from flightsite.http import never_cache
from flightsite.outages import STORE_ERRORS
from passengers import session as sess
from passengers.decorators import login_redirect, passenger_required

from .cities import cities_in
from .forms import WeatherForm
from .providers.base import WeatherError
from .services import fetch_weather
from .units import IMPERIAL_COUNTRIES, UNITS, default_units

STORE_DOWN = "We cannot save your weather right now. Your choice is kept: please try again."


def _store_down(request: HttpRequest, form: WeatherForm) -> HttpResponse:
    """Valkey is unreachable: the form again, with what the user chose, and a 503."""
    return form_again(request, "weather/form.html", {"form": form, "error": STORE_DOWN})


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def weather(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            logged_in = sess.is_logged_in(request.session)
        except STORE_ERRORS:
            return _store_down(request, WeatherForm(request.POST))
        if not logged_in:
            # Back to the form with the country and city chosen, once logged in again.
            keep = {k: request.POST.get(k, "")[:10] for k in ("country", "zip")}
            return login_redirect(
                request,
                reverse("weather:form") + "?" + urlencode({k: v for k, v in keep.items() if v}),
                "The weather was not fetched.",
            )
        return _weather_post(request)
    return _weather_get(request)


@passenger_required
def _weather_get(request: HttpRequest) -> HttpResponse:
    # ?country=XX without JavaScript: the same page with that country's cities filled in.
    initial = {"country": request.GET.get("country", "").upper()[:2]}
    if initial["country"] and request.GET.get("zip"):
        initial["zip"] = request.GET["zip"][:10]  # a city chosen before logging in again
    current = sess.weather(request.session)
    if current and not initial["country"]:
        initial = {"country": current["country"], "zip": current["zip"]}
    # The units of the last fetch; before the first one, those of the chosen country.
    remembered = sess.units(request.session)
    units = remembered if remembered in UNITS else default_units(initial["country"])
    form = WeatherForm(initial={**initial, "units": units})
    # Nothing remembered yet: weather.js follows the country with the units until the
    # passenger picks some (the form re-shown after an error keeps what was sent instead).
    follow = "" if remembered in UNITS else " ".join(sorted(IMPERIAL_COUNTRIES))
    return render(request, "weather/form.html", {"form": form, "imperial_countries": follow})


def _weather_post(request: HttpRequest) -> HttpResponse:
    form = WeatherForm(request.POST)
    if not form.is_valid():
        return render(request, "weather/form.html", {"form": form}, status=400)
    try:
        result = fetch_weather(form.cleaned_data["city"], units=form.cleaned_data["units"])
    except WeatherError as exc:
        # The session keeps its previous weather; the form keeps what the user chose.
        return render(
            request,
            "weather/form.html",
            {"form": form, "error": exc.user_message},
            status=exc.status,
        )
    sess.set_weather(request.session, result.as_session_value())
    sess.set_units(request.session, form.cleaned_data["units"])
    try:
        # Saved here, not by the middleware after the view: a failure shows this form again
        # with the user's choice, and the success message is only given once it is saved.
        request.session.save()
    except STORE_ERRORS:
        return _store_down(request, form)
    messages.success(request, f"Weather for {result.report.city} updated.")
    return redirect("passengers:dashboard")


@require_safe
@cache_control(max_age=3600, public=True)
def cities(request: HttpRequest) -> JsonResponse:
    """The cities of one country for the dependent select (static data, cacheable)."""
    country = request.GET.get("country", "").upper()[:2]
    return JsonResponse(
        {"country": country, "cities": [{"zip": c.zip, "name": c.name} for c in cities_in(country)]}
    )
