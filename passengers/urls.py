from django.urls import path

from . import views

app_name = "passengers"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("session/", views.session_page, name="session"),
    path("session/end/", views.end_session, name="end_session"),
    path("session/end-others/", views.end_other_sessions, name="end_other_sessions"),
]
