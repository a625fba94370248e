from django.urls import path

from . import views

app_name = "flights"

urlpatterns = [
    path("", views.flight_list, name="list"),
    path("add/", views.add_flight, name="add"),
    path("remove/", views.remove_flight, name="remove"),
]
