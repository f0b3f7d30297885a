"""/docs renders Swagger UI from WI's own files, under the UI's CSP, with no outside request."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import WebUsers
from tests.web.test_browser import ui_sign_in


def test_docs_render_offline_under_the_csp(page: Page, web: WebUsers) -> None:
    ui_sign_in(page, web, web.admin)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # Anything leaving WI is refused, as on a site without internet access.
    page.route("**/*", lambda route, request: (
        route.continue_() if request.url.startswith(web.url) else route.abort()))
    response = page.goto(web.url + "/docs")
    assert response is not None and response.status == 200
    assert "script-src" not in (csp := response.headers["content-security-policy"]) and (
        "default-src 'self'" in csp)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Workflow Integrator")
    expect(page.get_by_text("/api/v1/events/securechange").first).to_be_visible()
    outside = [url for url in requested if not url.startswith(web.url)]
    assert outside == []
    assert web.url + "/static/swagger-ui/swagger-ui-bundle.js" in requested


