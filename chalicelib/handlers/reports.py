"""The report builder (card queries, export), boards and marketing spend (supervisors: their team;
admins: everything; spend: admins). Services are imported inside the views."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.domain.records import BoardView, JsonView, ReportResult
from chalicelib.domain.timeutil import shanghai_day
from chalicelib.handlers import http

bp = Blueprint(__name__)


@bp.route("/reports/query", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def report_query() -> ReportResult:
    from chalicelib.services import reports

    request = bp.current_request
    return reports.query(http.principal(request), reports.parse(http.read_body(request)))


@bp.route("/reports/catalog", methods=["GET"])
@http.endpoint
def report_catalog() -> JsonView:
    from chalicelib.services import boards, reports

    boards.list_boards(http.principal(bp.current_request))  # the same access rule
    return reports.catalog()


@bp.route("/reports/export", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def report_export() -> JsonView:
    from chalicelib.services import report_export

    request = bp.current_request
    return report_export.export(http.principal(request), http.read_body(request), http.received_at(request))


@bp.route("/boards", methods=["GET"])
@http.endpoint
def list_boards() -> JsonView:
    from chalicelib.services import boards

    return boards.list_boards(http.principal(bp.current_request))


@bp.route("/boards", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def create_board() -> Response:
    from chalicelib.services import boards

    request = bp.current_request
    body = boards.create(http.principal(request), http.read_body(request), http.received_at(request))
    return Response(body=body, status_code=201, headers={"Content-Type": http.JSON})


@bp.route("/boards/{board_id}", methods=["GET"])
@http.endpoint
def get_board(board_id: str) -> BoardView:
    from chalicelib.services import boards

    return boards.get_board(http.principal(bp.current_request), board_id)


@bp.route("/boards/{board_id}", methods=["PUT"], content_types=[http.JSON])
@http.endpoint
def update_board(board_id: str) -> BoardView:
    from chalicelib.services import boards

    request = bp.current_request
    return boards.update(http.principal(request), board_id, http.read_body(request), http.received_at(request))


@bp.route("/boards/{board_id}", methods=["DELETE"])
@http.endpoint
def delete_board(board_id: str) -> JsonView:
    from chalicelib.services import boards

    return boards.delete(http.principal(bp.current_request), board_id)


@bp.route("/boards/{board_id}/home", methods=["POST"])
@http.endpoint
def home_board(board_id: str) -> JsonView:
    from chalicelib.services import boards

    return boards.set_home(http.principal(bp.current_request), board_id)


@bp.route("/costs", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def record_costs() -> JsonView:
    from chalicelib.services import costs

    request = bp.current_request
    return costs.record(http.principal(request), http.read_body(request))


@bp.route("/costs", methods=["GET"])
@http.endpoint
def list_costs() -> JsonView:
    from chalicelib.services import costs

    request = bp.current_request
    params = dict(request.query_params or {})
    month = params.get("month") or f"{shanghai_day(http.received_at(request)):%Y-%m}"
    return costs.overview(http.principal(request), month)
