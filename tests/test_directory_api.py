"""The signed-in user and the directory pages (users with today's load, teams), within scope."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import auth, body_of

pytestmark = pytest.mark.moto


def test_me_names_the_user_role_and_team(client: Any) -> None:
    me = body_of(client.http.get("/me", headers=auth("sh_rep1")))
    assert me == {"user_id": "sh_rep1", "name": "沪房贷一号", "role": "rep", "team": "sh_mortgage",
                  "team_label": "上海房贷组"}
    assert body_of(client.http.get("/me", headers=auth("admin")))["team"] is None
    assert client.http.get("/me").status_code == 401


def test_admin_lists_every_user_supervisor_only_the_team_rep_refused(client: Any) -> None:
    from local.seed import USERS

    everyone = body_of(client.http.get("/users", headers=auth("admin")))["items"]
    assert sorted(u["user_id"] for u in everyone) == sorted(USERS)
    rep = next(u for u in everyone if u["user_id"] == "gz_rep1")
    assert (rep["on_duty"], rep["open_leads"], rep["assigned_today"]) == (True, 0, 0)
    team = body_of(client.http.get("/users", headers=auth("gz_lead")))["items"]
    assert {u["user_id"] for u in team} == {"gz_lead", "gz_rep1", "gz_rep2"}
    refused = client.http.get("/users", headers=auth("sh_rep1"))
    assert refused.status_code == 403 and body_of(refused)["error"]["message"]


def test_users_show_duty_changes_and_teams_hide_robot_urls(client: Any) -> None:
    import json

    client.http.patch("/users/sh_rep2", headers={**auth("admin"), "Content-Type": "application/json"},
                      body=json.dumps({"on_duty": False, "daily_cap": 7}))
    client.http.put("/teams/sh_mortgage/webhook", headers={**auth("admin"), "Content-Type": "application/json"},
                    body=json.dumps({"url": "https://qyapi.example.com/send?key=secret", "kind": "wecom"}))
    users = body_of(client.http.get("/users", headers=auth("sh_lead")))["items"]
    rep2 = next(u for u in users if u["user_id"] == "sh_rep2")
    assert (rep2["on_duty"], rep2["daily_cap"]) == (False, 7)
    teams = body_of(client.http.get("/teams", headers=auth("admin")))["items"]
    assert [t["team_id"] for t in teams] == ["sh_mortgage", "south_credit"]
    assert teams[0]["webhook_kind"] == "wecom" and "secret" not in json.dumps(teams)
    own = body_of(client.http.get("/teams", headers=auth("gz_rep1")))["items"]
    assert [t["label"] for t in own] == ["华南信贷组"]


def test_directory_routes_are_in_openapi(client: Any) -> None:
    paths = body_of(client.http.get("/openapi.json"))["paths"]
    assert {"/me", "/users", "/teams"} <= set(paths)
