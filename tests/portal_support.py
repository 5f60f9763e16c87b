"""Helpers for the portal's tests: a portal on a small catalogue, a client, accounts and signed links.

The portal runs in-process (FastAPI's TestClient) with a fixed clock, so statuses, link ages and
the confirmation times never depend on today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import (
    at,
    make_app,
    occurrence_id,
    records_catalogue,
)

NOW = at(2026, 10, 20, 10)  # a Tuesday: the 10-31 plan is due soon, the joint meetings are behind pace
PASSWORD = "correct horse battery staple"
SECRET = "test-secret"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: Any) -> None:
        self.now = self.now + timedelta(**delta)


@dataclass
class PortalEnv:
    app: Any
    client: TestClient
    clock: Clock
    database_url: str
    users: dict[str, str] = field(default_factory=dict)

    # ---- links

    def occurrence(self, obligation: str = "next-year-plan", scope: str = "泰顺-鹿城", period: str = "2026") -> int:
        return occurrence_id(self.app, obligation, scope, period)

    def link(
        self,
        obligation: str = "next-year-plan",
        scope: str = "泰顺-鹿城",
        period: str = "2026",
        unit: str = "taishun",
        issued_at: datetime | None = None,
    ) -> str:
        from shanhai.notifications.links import sign_report_link

        return sign_report_link(
            base_url="",
            occurrence_id=self.occurrence(obligation, scope, period),
            unit_code=unit,
            secret=SECRET,
            issued_at=issued_at or self.clock.now,
        )

    # ---- accounts

    def add_user(self, name: str, role: str) -> None:
        from shanhai.models.accounts import add_user

        with self.app.session() as session:
            add_user(session=session, name=name, role=role, password=PASSWORD, actor="test")
        self.users[name] = role

    def login(self, name: str, password: str = PASSWORD, client: TestClient | None = None):
        c = client or self.client
        page = c.get("/login")
        return c.post(
            "/login",
            data={"name": name, "password": password, "csrf": csrf_of(page.text), "next": "/"},
            follow_redirects=False,
        )

    def coordinator(self) -> TestClient:
        """The client, logged in as a coordinator."""
        if "jinghe" not in self.users:
            self.add_user("jinghe", "coordinator")
        assert self.login("jinghe").status_code == 303
        return self.client

    def supervisor(self) -> TestClient:
        if "lingdao" not in self.users:
            self.add_user("lingdao", "supervisor")
        assert self.login("lingdao").status_code == 303
        return self.client

    def fresh_client(self) -> TestClient:
        return TestClient(self.client.app)

    # ---- the link page's forms

    def report_form(self, link: str, which: str = "record", client: TestClient | None = None) -> dict[str, str]:
        """The hidden fields of the link page's form (record or ack): csrf, nonce, occurrence_id."""
        page = (client or self.client).get(link)
        assert page.status_code == 200, page.text
        return form_fields(page.text, f"{link}/{which}")

    def submit_record(self, link: str, *, files: dict | None = None, client: TestClient | None = None, **fields: str):
        c = client or self.client
        data = {**self.report_form(link, client=c), "date": "2026-10-19", **fields}
        return c.post(f"{link}/record", data=data, files=files or {}, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def form_fields(html: str, action: str) -> dict[str, str]:
    start = html.find(f'action="{action}"')
    assert start >= 0, f"no form posting to {action}"
    end = html.find("</form>", start)
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html[start:end]))


def make_portal(tmp_path: Path, database_url: str, clock: Clock | None = None, **settings: Any) -> PortalEnv:
    from shanhai.portal.app import create_app

    clock = clock or Clock()
    # no Prefect server is asked unless a test starts one: port 9 (discard) never answers HTTP
    settings.setdefault("prefect_ui_url", "http://127.0.0.1:9")
    app = make_app(tmp_path / "home", database_url, records_catalogue(tmp_path / "cat"), sync_at=clock.now, **settings)
    client = TestClient(create_app(app, clock=clock))
    return PortalEnv(app=app, client=client, clock=clock, database_url=database_url)
