"""Lead-number blocks: one atomic ADD on a per-day counter reserves a whole block."""

from __future__ import annotations

from chalicelib.store.aws_errors import aws_errors
from chalicelib.store.schema import SequenceModel


def reserve_block(day_key: str, size: int) -> int:
    """Reserve `size` numbers for the day; returns the last number of the block."""
    with aws_errors():
        result = SequenceModel(f"lead#{day_key}").update(actions=[SequenceModel.last.add(size)])
    return int(result["Attributes"]["last"]["N"])


def next_turn(name: str) -> int:
    """The next turn of a team's round-robin (0, 1, 2, ...): one atomic ADD, race-free."""
    with aws_errors():
        result = SequenceModel(name).update(actions=[SequenceModel.last.add(1)])
    return int(result["Attributes"]["last"]["N"]) - 1
