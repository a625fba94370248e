from django.http import HttpRequest, HttpResponse
from django.urls import path


def count(request: HttpRequest) -> HttpResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return HttpResponse(str(request.session["count"]))


def peek(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.session.get("count", 0)))


urlpatterns = [path("count/", count), path("peek/", peek)]
