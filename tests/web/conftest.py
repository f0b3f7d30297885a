"""Users and signed-in clients for the web UI tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest

from tests.servers.live_wi import LiveWI

ADMIN = ("alice", "alice-password-123")
VIEWER = ("victor", "victor-password-456")


@dataclass
class WebUsers:
    """A live WI with one admin and one viewer user."""

    live: LiveWI
    admin: tuple[str, str] = ADMIN
    viewer: tuple[str, str] = VIEWER

    @property
    def url(self) -> str:
        """Where the UI is served."""
        return self.live.url


@pytest.fixture
def web(live_wi: LiveWI) -> WebUsers:
    """A live WI with users ``alice`` (admin) and ``victor`` (viewer)."""
    users = live_wi.services.users  # hashes with FAST_HASHER (see tests/servers/live_wi.py)
    users.add(ADMIN[0], "admin", ADMIN[1])
    users.add(VIEWER[0], "viewer", VIEWER[1])
    return WebUsers(live_wi)


def browser_client(url: str) -> httpx2.Client:
    """A cookie-keeping HTTP client that does not follow redirects."""
    return httpx2.Client(base_url=url, trust_env=False, follow_redirects=False, timeout=30)


def sign_in(client: httpx2.Client, name: str, password: str) -> httpx2.Response:
    """Load the sign-in form and post it, as a browser would."""
    form = client.get("/sign-in")
    nonce = re.search(r'name="sign_in_nonce" value="([^"]+)"', form.text)
    assert nonce, form.text
    return client.post(
        "/sign-in",
        data={
            "name": name,
            "password": password,
            "sign_in_nonce": nonce.group(1),
            "next": "/servers",
        },
    )


def csrf_of(html: str) -> str:
    """The CSRF token a page carries in its forms."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


@pytest.fixture
def admin_client(web: WebUsers) -> Iterator[httpx2.Client]:
    """An HTTP client signed in as the admin user."""
    with browser_client(web.url) as client:
        assert sign_in(client, *web.admin).status_code == 303
        yield client


@pytest.fixture
def viewer_client(web: WebUsers) -> Iterator[httpx2.Client]:
    """An HTTP client signed in as the viewer user."""
    with browser_client(web.url) as client:
        assert sign_in(client, *web.viewer).status_code == 303
        yield client
