"""A browser's view of the sign-in pages, for tests: cookies kept, no redirect followed."""

from __future__ import annotations

import re

import httpx

from shipyard.testing.api import Api

__all__ = ["browser", "login_form_csrf", "page_csrf", "set_cookie", "sign_in_with_token"]

_LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(api: Api) -> httpx.Client:
    """A cookie-keeping client of ``api`` that follows no redirect by itself."""
    return httpx.Client(base_url=api.url, timeout=30, follow_redirects=False, trust_env=False)


def login_form_csrf(client: httpx.Client) -> str:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    found = _LOGIN_CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def sign_in_with_token(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/login", data={"token": token, "login_csrf": login_form_csrf(client)})


def page_csrf(client: httpx.Client) -> str:
    page = client.get("/account")
    assert page.status_code == 200, page.text
    found = _CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def set_cookie(response: httpx.Response, name: str) -> str:
    """The ``Set-Cookie`` header that sets ``name``."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]
