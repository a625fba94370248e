"""`manage.py sessions`: see and end the site's sessions in Valkey.

    manage.py sessions list [--passport P] [--page-size 50] [--cursor C]
    manage.py sessions count
    manage.py sessions show KEY
    manage.py sessions end KEY | --passport P
    manage.py sessions purge [--yes]

KEY is a session key (the cookie value) or its Valkey key (`flight_session:{tag}…`). Exit
status: 0 done, 1 nothing found (no such session or passenger), 2 bad usage, 3 the session
store cannot serve now (a node down, hung or refusing: one line, no traceback).
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.timezone import localtime
from tqdm import tqdm

from flightsite.outages import STORE_ERRORS, is_store_outage
from passengers.models import Passenger
from passengers.session import engine_has_extras, needs_engine_message, passport_of
from valkey_sessions import conf
from valkey_sessions import live as live_sessions
from valkey_sessions.keys import session_key_of, valid_key


class NotFound(CommandError):
    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=1)


class Command(BaseCommand):
    help = "List, count, show and end the site's sessions in Valkey."
    verbosity = 1  # --verbosity, set by handle() (BaseCommand does not keep it)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="live sessions, a page at a time (SCAN)")
        listing.add_argument("--passport", help="only this passenger's sessions")
        listing.add_argument("--page-size", type=int, default=50)
        listing.add_argument("--cursor", default="0", help="where the previous page stopped")
        sub.add_parser("count", help="how many sessions there are")
        show = sub.add_parser("show", help="one session: TTL, size, device, contents")
        show.add_argument("key")
        end = sub.add_parser("end", help="end one session, or all of a passenger's")
        end.add_argument("key", nargs="?")
        end.add_argument("--passport")
        purge = sub.add_parser("purge", help="end every session of the site")
        purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        if not engine_has_extras():
            raise CommandError(needs_engine_message().replace("This page", "manage.py sessions"))
        try:
            getattr(self, f"_{action}")(**options)
        except STORE_ERRORS as exc:
            if not is_store_outage(exc):
                raise
            # What was done before the failure stays done (purge: the sessions already ended).
            raise CommandError(
                f"The session store cannot serve now ({type(exc).__name__}: {exc}). "
                "Stopped; try again when Valkey is back.",
                returncode=3,
            ) from exc

    # -- helpers --

    def _progress(self, what: str) -> tqdm[Any]:
        return tqdm(
            desc=what,
            unit=" keys",
            file=sys.stderr,
            disable=not sys.stderr.isatty() or self.verbosity == 0,
        )

    def _passenger_id(self, passport: str) -> int:
        found = Passenger.objects.filter(passportno=passport.strip().upper()).first()
        if found is None:
            raise NotFound(f"No passenger with passport number {passport!r}.")
        return found.passenger_id

    @staticmethod
    def _key(raw: str) -> str:
        key = session_key_of(raw) if raw.startswith(conf.key_prefix()) else raw
        if not key or not valid_key(key):
            raise CommandError(f"{raw!r} is not a session key.", returncode=2)
        return key

    def _row(self, s: live_sessions.LiveSession) -> str:
        device = f"{s.device.label} {s.device.client_ip}".strip() if s.device else "-"
        seen = f"{localtime(s.last_seen):%Y-%m-%d %H:%M}" if s.last_seen else "-"
        return (
            f"{s.masked_key}  {passport_of(s.data) or '-':<9}  {s.ttl_text:>14}  "
            f"{s.memory or 0:>5} B  last seen {seen}  {device}"
        )

    # -- actions --

    def _list(self, passport: str | None, page_size: int, cursor: str, **_: Any) -> None:
        if page_size < 1:
            raise CommandError("--page-size must be at least 1.", returncode=2)
        if passport:
            sessions = live_sessions.sessions_of(self._passenger_id(passport))
            for s in sessions:
                self.stdout.write(self._row(s))
            self.stdout.write(f"{len(sessions)} session(s) of passport {passport.upper()}.")
            return
        try:
            page = live_sessions.scan_page(cursor, page_size)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        for s in page.sessions:
            self.stdout.write(self._row(s))
        if page.next_cursor:
            self.stdout.write(f"More: manage.py sessions list --cursor {page.next_cursor}")
        else:
            self.stdout.write("End of the list.")

    def _count(self, **_: Any) -> None:
        with self._progress("Counting sessions") as bar:
            total, _complete = live_sessions.count(bar.update)
        self.stdout.write(str(total))

    def _show(self, key: str, **_: Any) -> None:
        s = live_sessions.peek(self._key(key))
        if s is None:
            raise NotFound("No such session (it ended, expired, or never existed).")
        expires = f"{localtime(s.expires_at):%Y-%m-%d %H:%M:%S %Z}" if s.expires_at else "-"
        self.stdout.write(f"key:        {s.masked_key}")
        self.stdout.write(f"passport:   {passport_of(s.data) or '-'}")
        self.stdout.write(f"time left:  {s.ttl_text} (expires {expires})")
        self.stdout.write(f"size:       {s.memory} bytes of Valkey memory")
        if s.device:
            created = f"{localtime(s.device.created):%Y-%m-%d %H:%M}"
            self.stdout.write(f"device:     {s.device.label}, {s.device.client_ip or '-'}")
            self.stdout.write(f"logged in:  {created}")
        self.stdout.write(s.pretty if s.data is not None else "(unreadable value)")

    def _end(self, key: str | None, passport: str | None, **_: Any) -> None:
        if bool(key) == bool(passport):
            raise CommandError("Give a session KEY or --passport, not both.", returncode=2)
        if passport:
            ended = live_sessions.end_all(self._passenger_id(passport), by="staff")
            self.stdout.write(f"Ended {ended} session(s) of passport {passport.upper()}.")
            if not ended:
                raise NotFound("That passenger had no live session.")
            return
        assert key is not None
        if not live_sessions.end(self._key(key), by="staff"):
            raise NotFound("No such session (it ended, expired, or never existed).")
        self.stdout.write("Session ended.")

    def _purge(self, yes: bool, **_: Any) -> None:
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("purge ends every session: confirm with --yes.", returncode=2)
            answer = input("End EVERY session of the site (everyone is logged out)? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                self.stdout.write("Nothing ended.")
                return
        with self._progress("Ending sessions") as bar:
            ended = live_sessions.purge(bar.update)
        self.stdout.write(f"Ended {ended} session(s).")
