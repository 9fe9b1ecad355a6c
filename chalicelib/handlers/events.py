"""EventBridge events as they really arrive, not only as the console's samples show them.

Chalice builds its `CloudWatchEvent` from the raw dict before the handler runs and indexes every
top-level field (`version`, `account`, `region`, `resources`, ...). `sam local generate-event`,
several published sample sets and hand-written replays leave some of them out (most often
`version`), and Chalice then raises `KeyError` before any of our code runs. Only `time` matters to
the handlers ("now" comes from the event), so the others are filled with neutral values.
"""

from __future__ import annotations

from typing import Any

from chalice.app import CloudWatchEvent

_DEFAULTS: dict[str, Any] = {"version": "0", "id": "", "account": "", "region": "", "resources": [],
                             "detail": {}, "detail-type": "", "source": ""}


class LenientCloudWatchEvent(CloudWatchEvent):
    def _extract_attributes(self, event_dict: dict[str, Any]) -> None:
        present = {key: value for key, value in event_dict.items() if value is not None}
        super()._extract_attributes({**_DEFAULTS, **present})


def lenient(handler: Any) -> None:
    """Make a registered Chalice event handler parse its events with LenientCloudWatchEvent."""
    handler.event_class = LenientCloudWatchEvent
