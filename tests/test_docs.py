"""docs/capture-form.html, the README's marketing-form example, works against the capture endpoint."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.moto

FORM = ROOT / "docs" / "capture-form.html"


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.action = attributes.get("action") or ""
        name = attributes.get("name")
        if tag in ("input", "select") and name and name not in self.fields:
            self.fields[name] = attributes.get("value") or ""


def test_the_example_form_posts_a_lead_and_redirects(client: Any) -> None:
    parser = _Fields()
    parser.feed(FORM.read_text(encoding="utf-8"))
    assert parser.action.endswith("/api/capture")
    assert {"phone", "consent", "website", "redirect_to", "source"} <= set(parser.fields)
    form = {**parser.fields, "name": "张三", "phone": "138 1620 4573", "city": "上海", "amount": "80",
            "loan_type": "mortgage", "consent": "on", "website": ""}
    response = client.http.post("/capture", headers={"Content-Type": "application/x-www-form-urlencoded"},
                                body=urlencode(form))
    assert response.status_code == 303, response.body
    assert response.headers["Location"] == parser.fields["redirect_to"]


def test_the_readme_is_short_and_its_links_resolve() -> None:
    """README.md is the newcomer's page: ≤ 150 lines, none over 160 characters, every local link alive."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text.split("\n")
    assert len(lines) <= 150
    assert [n for n, line in enumerate(lines, 1) if len(line) > 160] == []
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert links
    assert [link for link in links if not link.startswith("http") and not (ROOT / link).exists()] == []
