"""Lead-number blocks: one atomic ADD on a per-day counter reserves a whole block."""

from __future__ import annotations

from pynamodb.exceptions import UpdateError

from chalicelib.errors import StoreUnavailable
from chalicelib.store.schema import SequenceModel


def reserve_block(day_key: str, size: int) -> int:
    """Reserve `size` numbers for the day; returns the last number of the block."""
    try:
        result = SequenceModel(f"lead#{day_key}").update(actions=[SequenceModel.last.add(size)])
    except UpdateError as exc:
        raise StoreUnavailable() from exc
    return int(result["Attributes"]["last"]["N"])

