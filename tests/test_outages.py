"""The database going away is a 503 with a clear message, never a 500 (failure injected with
Django's execute_wrapper hook on the real connection)."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connections

from .conftest import BOTH_DBS
from .helpers import (
    login,
    session_cookie,
    session_key_of,
    session_keys,
    stored_session,
    tomorrows_flights,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def refuse(execute, sql, params, many, context):
    raise OperationalError("(2003, \"Can't connect to MySQL server on '127.0.0.1'\")")


def test_flights_page_when_database_is_down(client, passport):
    login(client, passport)
    with connections["flughafendb"].execute_wrapper(refuse):
        response = client.get("/flights/")
    assert response.status_code == 503
    assert "flight database" in response.text
    assert client.get("/").status_code == 200  # the dashboard needs no database


def test_login_when_database_is_down_keeps_input(client, valkey_client, passport):
    with connections["flughafendb"].execute_wrapper(refuse):
        response = login(client, passport)
    assert response.status_code == 503
    assert f'value="{passport}"' in response.text
    assert session_cookie(client) is None
    assert session_keys(valkey_client) == []


def test_add_flight_when_database_is_down_keeps_session(client, valkey_client, passport):
    login(client, passport)
    before = stored_session(valkey_client, session_key_of(client))
    flight_id = str(tomorrows_flights(1)[0]["flight_id"])
    with connections["flughafendb"].execute_wrapper(refuse):
        response = client.post("/flights/add/", {"flight_id": flight_id})
    assert response.status_code == 503
    assert stored_session(valkey_client, session_key_of(client)) == before
