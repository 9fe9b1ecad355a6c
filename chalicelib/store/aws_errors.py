"""The one place that turns AWS and pynamodb errors into domain errors.

Every store call runs its requests inside `aws_errors()`: a condition that did not hold (a
conditional write, or a transaction cancelled) becomes `ConditionFailed`, which the store's
functions turn into their own answer (False, None, a `Conflict`, an outcome); anything else the
service or the network says becomes `StoreUnavailable` (503, "try again"). `Model.DoesNotExist`
passes through untouched: a missing item is an answer, not a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError

from chalicelib.errors import StoreUnavailable

_CONDITION_CODES = ("ConditionalCheckFailedException", "TransactionCanceledException")


class ConditionFailed(StoreUnavailable):
    """A write's condition did not hold. `aws_code`: ConditionalCheckFailedException or
    TransactionCanceledException; `reasons`: the cancellation reason of each item of a cancelled
    transaction (e.g. ConditionalCheckFailed, TransactionConflict), else empty. A store function
    turns it into its own answer; one that does not is a store failure like any other (503)."""

    def __init__(self, aws_code: str, reasons: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.aws_code = aws_code
        self.reasons = reasons


@contextmanager
def aws_errors() -> Iterator[None]:
    try:
        yield
    except DoesNotExist:
        raise
    except PynamoDBException as exc:
        code = exc.cause_response_code
        if code in _CONDITION_CODES:
            reasons = frozenset(r.code for r in exc.cancellation_reasons or [] if r is not None and r.code) \
                if isinstance(exc, TransactWriteError) else frozenset()
            if not reasons and isinstance(exc.cause, ClientError):
                reasons = _reasons(exc.cause)
            raise ConditionFailed(str(code), reasons) from exc
        raise StoreUnavailable() from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in _CONDITION_CODES:
            raise ConditionFailed(str(code), _reasons(exc)) from exc
        raise StoreUnavailable() from exc
    except BotoCoreError as exc:
        raise StoreUnavailable() from exc


def _reasons(error: ClientError) -> frozenset[str]:
    """The cancellation reasons of a cancelled transaction, as the low-level client reports them."""
    found = error.response.get("CancellationReasons") or []
    return frozenset(str(r["Code"]) for r in found if r.get("Code") and r.get("Code") != "None")


def conditional(write: Callable[[], object]) -> bool:
    """Run one conditional write (or transaction): True when made, False when a condition did not
    hold; any other failure is `StoreUnavailable`."""
    try:
        with aws_errors():
            write()
        return True
    except ConditionFailed:
        return False
