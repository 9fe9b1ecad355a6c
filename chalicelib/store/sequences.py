"""Lead-number and round-robin turn blocks: one atomic ADD on a counter reserves a whole block."""

from __future__ import annotations

from chalicelib.store.aws_errors import aws_errors
from chalicelib.store.schema import SequenceModel


def reserve_block(day_key: str, size: int) -> int:
    """Reserve `size` numbers for the day; returns the last number of the block."""
    with aws_errors():
        result = SequenceModel(f"lead#{day_key}").update(actions=[SequenceModel.last.add(size)])
    return int(result["Attributes"]["last"]["N"])


def reserve_turns(name: str, size: int) -> int:
    """Reserve `size` turns of a team's round robin; returns the counter after them (the turns
    taken so far). One atomic ADD, race-free: no turn is handed out twice."""
    with aws_errors():
        result = SequenceModel(name).update(actions=[SequenceModel.last.add(size)])
    return int(result["Attributes"]["last"]["N"])
