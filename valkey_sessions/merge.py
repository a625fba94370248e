"""The default merge policy (VALKEY_SESSIONS["MERGE"]): when another request stored the session
between this request's read and its write, this request's change (base → mine) is applied on top
of what the other stored (theirs), per top-level key.

- A key this request did not change keeps the other's value (or stays deleted if it deleted it).
- A key this request deleted is deleted.
- A list this request changed is merged by entry: the entries it removed are removed, the ones
  it added are added (once), the ones it edited are edited in place; the other request's
  additions and removals survive. If the other request deleted the whole list, only this
  request's additions remain (no resurrection of what it deleted).
- Any other value this request changed: this request's value wins (last writer wins per key).

A merge policy is `merge(base, mine, theirs) -> dict`; it may raise `MergeRejected` (the store
turns it into `SessionConflict`, with its message for the user).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING: Any = object()


class MergeRejected(Exception):
    """A change that cannot be combined with what a concurrent request stored. `user_message`
    says why, for the page."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


def content(item: Any) -> Any:
    """Default identity of a list entry: its whole content (an edit is a removal + an
    addition)."""
    return repr(item)


def merge_list(
    before: Any, mine: list[Any], theirs: list[Any], identity: Callable[[Any], Any] = content
) -> list[Any]:
    old = {identity(x): x for x in before} if isinstance(before, list) else {}
    own = {identity(x): x for x in mine}
    removed = old.keys() - own.keys()
    edited = {i: x for i, x in own.items() if i in old and old[i] != x}
    merged = [edited.get(identity(x), x) for x in theirs if identity(x) not in removed]
    present = {identity(x) for x in merged}
    for item in mine:
        ident = identity(item)
        if ident not in old and ident not in present:
            merged.append(item)
            present.add(ident)
    return merged


def merge(
    base: dict[str, Any],
    mine: dict[str, Any],
    theirs: dict[str, Any],
    identity: Callable[[Any], Any] = content,
) -> dict[str, Any]:
    result = dict(theirs)
    for key in base.keys() | mine.keys():
        before, after = base.get(key, _MISSING), mine.get(key, _MISSING)
        if before == after:
            continue  # not changed by this request: theirs stands
        if after is _MISSING:
            result.pop(key, None)
            continue
        other = theirs.get(key, _MISSING)
        if isinstance(after, list) and isinstance(other, list):
            result[key] = merge_list(before, after, other, identity)
        elif isinstance(after, list) and other is _MISSING and isinstance(before, list):
            # The other request deleted the list: only what this request added survives.
            added = merge_list(before, after, [], identity)
            if added:
                result[key] = added
        else:
            result[key] = after
    return result
