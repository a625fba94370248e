"""The least-privilege Valkey users of the site: the ONE list of commands and key patterns.

`python manage.py valkey_acl` prints the `ACL SETUSER` commands (README "Valkey ACL" shows its
output; tests/test_valkey_acl.py fails when the README differs, and runs the whole site flow as
these users on a real server). When the site starts using another command, add it here.

Commands called inside Lua scripts are checked against the user too, so they are listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from passengers.throttle import KEY_PATTERN as THROTTLE_KEYS


@dataclass(frozen=True)
class ValkeyUser:
    name: str
    purpose: str
    keys: tuple[str, ...]
    commands: tuple[str, ...]

    def rules(self, password: str) -> list[str]:
        return [
            "reset",  # no keys, no channels, no commands, no passwords: then grant
            "on",
            f">{password}",
            *(f"~{pattern}" for pattern in self.keys),
            "-@all",
            *(f"+{command}" for command in self.commands),
        ]

    def setuser(self, password: str) -> str:
        return " ".join(["ACL SETUSER", self.name, *self.rules(password)])


# Connection: PING (health checks, idle connection checks), SELECT (a db number in the URL),
# CLIENT SETINFO (valkey-py names itself on connect; denied, it would fill the ACL LOG).
_CONNECTION = ("ping", "select", "client|setinfo")

SESSIONS_USER = ValkeyUser(
    name="flightsite-sessions",
    purpose="VALKEY_URL: sessions (valkey_sessions) and login throttle counters",
    keys=("flight_session:*", "flight_session_index:*", THROTTLE_KEYS),
    commands=(
        *_CONNECTION,
        # session store: a read is a GET; create, compare-and-set and delete are scripts,
        # loaded once per client (EVAL if a server lost them); exists() is EXISTS
        "get",
        "evalsha",
        "eval",
        "script|load",
        "exists",
        # inside the store's scripts: SET (NX / KEEPTTL / PX / PXAT), DEL, and the devices
        # index (TYPE, HSETEX, HPEXPIRE, HPEXPIREAT, HGET, HDEL, HLEN)
        "set",
        "del",
        "type",
        "hsetex",
        "hpexpire",
        "hpexpireat",
        "hdel",
        "hlen",
        # live sessions (session page, admin, manage.py sessions): peek, devices, SCAN
        "pttl",
        "memory|usage",
        "hgetall",
        "hget",
        "scan",
        # inside the throttle's scripts: INCR, PEXPIRE (GET and PTTL above)
        "incr",
        "pexpire",
        # /healthz (flightsite/health.py, valkey_sessions.server_problems): is the
        # maxmemory-policy evicting (INFO), does the server have the engine's commands?
        "info",
        "command|info",
    ),
)

CACHE_USER = ValkeyUser(
    name="flightsite-cache",
    purpose="VALKEY_CACHE_URL: the general cache (weather answers and their fetch locks)",
    keys=("flightsite:*",),
    # django-valkey's get / set and add (SET PX [NX]) / delete / has_key
    commands=(*_CONNECTION, "get", "set", "del", "exists"),
)

USERS = (SESSIONS_USER, CACHE_USER)


def acl_script() -> str:
    """The commands an operator types at the valkey-cli prompt, with placeholder passwords."""
    lines = []
    for user in USERS:
        lines.append(f"# {user.purpose}")
        lines.append(user.setuser(f"{user.name}-password-here"))
    return "\n".join(lines)
