"""The site on a real 3-master Valkey Cluster (VALKEY_CLUSTER_URL, django-valkey's
ClusterValkeyCache): the whole flow, every key on the node that owns its slot, no cross-slot
command anywhere."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from .conftest import BOTH_DBS
from .topologies import Cluster, log_out, site_flow_until_dashboard, use_valkey

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with Cluster(tmp_path_factory.mktemp("cluster"), masters=3) as cluster:
        yield cluster


def test_the_passenger_flow_on_a_cluster(cluster, settings, passport):
    with use_valkey(settings, cluster.env) as topology:
        assert (topology.sessions.kind, topology.cache.kind) == ("cluster", "cluster")
        # Several passengers, so that their sessions land on different masters.
        clients = [Client() for _ in range(6)]
        flows = [site_flow_until_dashboard(c, passport) for c in clients]

        keys = cluster.key_nodes()
        session_keys = [f"flight_session:{f['session_key']}" for f in flows]
        assert set(session_keys) <= set(keys)
        assert len({keys[k] for k in session_keys}) > 1, "all sessions on one node"
        stored = json.loads(cluster.client().get(session_keys[0]))
        assert stored["weather"]["city"] == "Birmingham"
        assert [f["flight_id"] for f in stored["flights"]] == [int(flows[0]["flight_id"])]
        assert any(k.startswith("flightsite:1:weather:") for k in keys)  # the cache, too

        for client in clients:
            log_out(client)
        assert not [k for k in cluster.key_nodes() if k.startswith("flight_session:")]

    errors = cluster.errorstats()
    assert not [name for name in errors if "CROSSSLOT" in name], errors
