"""The lead lifecycle: one `status` field and the transitions allowed between its values."""

from __future__ import annotations

from chalicelib.errors import Conflict
from chalicelib.rules.statuses import STATUS_LABELS as STATUS_LABELS  # vocabulary SOP documents name too

_WORKING = {"contacted", "observing", "intent", "qualifying"}

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"invalid", "duplicate", "pool", "assigned"}),
    "pool": frozenset({"assigned", "invalid"}),
    "assigned": frozenset(_WORKING | {"pool", "invalid", "lost"}),
    "contacted": frozenset((_WORKING - {"contacted"}) | {"pool", "invalid", "lost"}),
    "observing": frozenset((_WORKING - {"observing"}) | {"pool", "invalid", "lost"}),
    "intent": frozenset({"observing", "qualifying", "won", "lost", "pool"}),
    "qualifying": frozenset({"intent", "observing", "won", "lost"}),
    "won": frozenset(),
    "lost": frozenset({"pool"}),
    "invalid": frozenset({"pool"}),
    "duplicate": frozenset(),
}

CLOSED = frozenset({"won", "lost", "invalid"})
# Closed leads a supervisor or an admin may put back in the pool (`ownership.plan("reopen")`): a lost
# customer worth another try, a real customer a cleaning rule flagged.
REOPENABLE = frozenset(status for status in CLOSED if "pool" in TRANSITIONS[status])
ACTIVE = frozenset(STATUS_LABELS) - CLOSED - {"duplicate"}


def check_transition(current: str, target: str) -> None:
    """Raise Conflict (409) with a Chinese message when current → target is not allowed."""
    if target not in STATUS_LABELS:
        raise Conflict(f"未知状态：{target}", code="UNKNOWN_STATUS")
    if target not in TRANSITIONS.get(current, frozenset()):
        raise Conflict(
            f"不允许从「{STATUS_LABELS.get(current, current)}」变更为「{STATUS_LABELS[target]}」",
            code="ILLEGAL_TRANSITION",
        )
