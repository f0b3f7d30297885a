"""Every field rule of the Server and Authentication tabs, checked through the REST API.

Each rejected input must come back as 422 naming the field (``loc``) with a message
that says what is wrong; each accepted form must be stored the way the user meant it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pytest

from tests.foundation.pem import expired, self_signed
from tests.servers.live_wi import LiveWI

URL = "/api/v1/outbound-servers"
_names = itertools.count(1)

BASIC = {"method": "basic", "username": "wi-service", "password": "s3cret-basic"}
OAUTH_PASSWORD = {
    "method": "oauth2",
    "grant_type": "password",
    "token_url": "https://itsm.example.com/oauth_token.do",
    "username": "wi-service",
    "password": "s3cret-login",
    "client_id": "client-1",
    "client_secret": "s3cret-client",
    "scope": "useraccount",
}
OAUTH_REFRESH = {
    "method": "oauth2",
    "grant_type": "refresh_token",
    "token_url": "https://itsm.example.com/oauth_token.do",
    "refresh_token": "s3cret-refresh",
    "client_id": "client-1",
    "client_secret": "s3cret-client",
}


@pytest.fixture(scope="module")
def api(shared_wi: LiveWI) -> Iterator[httpx2.Client]:
    """An admin client of the module's WI."""
    with shared_wi.client() as client:
        yield client


def _body(overrides: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"server-{next(_names)}", "host": "itsm.example.com", **overrides}


def create(api: httpx2.Client, overrides: dict[str, Any]) -> httpx2.Response:
    """POST a server made of a unique name, a valid host and ``overrides``."""
    return api.post(URL, json=_body(overrides))


def assert_rejected(response: httpx2.Response, loc: list[Any], fragment: str) -> None:
    """422 with an entry at ``loc`` (after "body") whose message contains ``fragment``."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    entries = [e for e in detail if e["loc"] == ["body", *loc]]
    assert entries, f"no error at {loc}: {detail}"
    assert any(fragment in e["msg"] for e in entries), f"{fragment!r} not in {entries}"


# -- name ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        pytest.param("", "a value is required", id="empty"),
        pytest.param("x" * 101, "at most 100 characters", id="too-long"),
        pytest.param(" leading", "must not start or end with blanks", id="leading-blank"),
        pytest.param("trailing ", "must not start or end with blanks", id="trailing-blank"),
        pytest.param("a/b", "must not contain '/'", id="slash"),
        pytest.param(".", "cannot be '.' or '..'", id="dot"),
        pytest.param("..", "cannot be '.' or '..'", id="dot-dot"),
        pytest.param("tab\there", "control characters", id="tab"),
        pytest.param("bell\x07", "control characters", id="c0-control"),
        pytest.param("c1\x85control", "printable", id="c1-control"),
        pytest.param("zero\u200bwidth", "printable", id="zero-width-space"),
        pytest.param("line\u2028sep", "printable", id="line-separator"),
        pytest.param("fetch-token", "is reserved (the REST API uses it as a path)",
                     id="reserved-api-path"),
    ],
)
def test_bad_names_are_rejected(api: httpx2.Client, name: str, fragment: str) -> None:
    assert_rejected(create(api, {"name": name}), ["name"], fragment)


def test_name_is_required(api: httpx2.Client) -> None:
    missing = api.post(URL, json={"host": "itsm.example.com"})
    assert_rejected(missing, ["name"], "a value is required")


@pytest.mark.parametrize(
    "name", ["x" * 100, "ServiceNow prod (EU)", "jira_2", "Überwachung-日本"], ids=str
)
def test_good_names_are_kept_as_typed(api: httpx2.Client, name: str) -> None:
    response = api.post(URL, json={"name": name, "host": "10.0.0.5"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
    assert response.headers["Location"] == f"{URL}/{quote(name, safe='')}"
    read = api.get(response.headers["Location"])
    assert read.status_code == 200
    assert read.json()["name"] == name


def test_duplicate_name_is_409(api: httpx2.Client) -> None:
    body = _body({})
    assert api.post(URL, json=body).status_code == 201
    again = api.post(URL, json={**body, "host": "other.example.com"})
    assert again.status_code == 409
    assert body["name"] in again.json()["detail"]
    assert "already exists" in again.json()["detail"]


# -- host and protocol ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "protocol", "want_host", "want_base_url"),
    [
        pytest.param("10.0.0.5", None, "10.0.0.5", "https://10.0.0.5", id="ipv4"),
        pytest.param("10.0.0.5:8443", "http", "10.0.0.5:8443", "http://10.0.0.5:8443",
                     id="ipv4-port"),
        pytest.param("[fd00::5]:8443", None, "[fd00::5]:8443", "https://[fd00::5]:8443",
                     id="ipv6-brackets-port"),
        pytest.param("fd00::5", None, "[fd00::5]", "https://[fd00::5]", id="bare-ipv6"),
        pytest.param("[FD00:0:0::5]", None, "[fd00::5]", "https://[fd00::5]",
                     id="ipv6-canonical"),
        pytest.param("ITSM.Example.com", None, "itsm.example.com", "https://itsm.example.com",
                     id="dns-lowercased"),
        pytest.param("itsm.example.com/api", None, "itsm.example.com/api",
                     "https://itsm.example.com/api", id="base-path"),
        pytest.param("itsm.example.com:1/api/v2/", None, "itsm.example.com:1/api/v2",
                     "https://itsm.example.com:1/api/v2", id="port-1-trailing-slash"),
        pytest.param("itsm.example.com:65535", None, "itsm.example.com:65535",
                     "https://itsm.example.com:65535", id="port-65535"),
        pytest.param("https://x.example.com:8443/api", None, "x.example.com:8443/api",
                     "https://x.example.com:8443/api", id="pasted-https-url"),
        pytest.param("http://x.example.com/now", None, "x.example.com/now",
                     "http://x.example.com/now", id="pasted-url-sets-protocol"),
        pytest.param("HTTP://x.example.com", "HTTP", "x.example.com", "http://x.example.com",
                     id="pasted-url-agrees-any-case"),
        pytest.param("localhost", "http", "localhost", "http://localhost", id="single-label"),
    ],
)
def test_host_forms_are_accepted_and_split(
    api: httpx2.Client, host: str, protocol: str | None, want_host: str, want_base_url: str
) -> None:
    body: dict[str, Any] = {"host": host}
    if protocol:
        body["protocol"] = protocol
    response = create(api, body)
    assert response.status_code == 201, response.text
    assert response.json()["host"] == want_host
    assert response.json()["base_url"] == want_base_url
    assert response.json()["protocol"] == want_base_url.split(":", 1)[0]


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        pytest.param("", "enter the outbound server's IP address or DNS name", id="empty"),
        pytest.param("itsm.example.com:0", "port '0' is not a number between 1 and 65535",
                     id="port-0"),
        pytest.param("itsm.example.com:65536", "port '65536' is not a number between 1 and 65535",
                     id="port-65536"),
        pytest.param("itsm.example.com:https", "port 'https' is not a number", id="port-text"),
        pytest.param("itsm.example.com:", "must be followed by a port number", id="colon-only"),
        pytest.param("user:pw@itsm.example.com", "credentials in the Authentication tab",
                     id="credentials"),
        pytest.param("https://user:pw@itsm.example.com/api", "credentials in the Authentication",
                     id="credentials-in-url"),
        pytest.param("ftp://itsm.example.com", "scheme 'ftp://' is not supported", id="ftp"),
        pytest.param("256.1.1.1", "not a valid one", id="bad-ipv4"),
        pytest.param("fd00::zz", "IPv6 address in brackets", id="bad-bare-ipv6"),
        pytest.param("[fd00::zz]:443", "fd00::zz", id="bad-bracket-ipv6"),
        pytest.param("-bad.example.com", "is not an IP address or DNS name", id="bad-label"),
        pytest.param("under_score.example.com", "is not an IP address or DNS name",
                     id="underscore"),
        pytest.param("itsm example.com", "must not contain spaces", id="space"),
        pytest.param("itsm.example.com/api?x=1", "query (?) or fragment (#)", id="query"),
        pytest.param("itsm.example.com/a//b", "empty segments", id="empty-segment"),
    ],
)
def test_bad_hosts_are_rejected(api: httpx2.Client, host: str, fragment: str) -> None:
    assert_rejected(create(api, {"host": host}), ["host"], fragment)


def test_host_is_required(api: httpx2.Client) -> None:
    assert_rejected(api.post(URL, json={"name": "no-host"}), ["host"], "a value is required")


@pytest.mark.parametrize(
    ("host", "protocol"),
    [("http://x.example.com", "https"), ("https://x.example.com", "http")],
)
def test_pasted_scheme_contradicting_protocol_is_rejected(
    api: httpx2.Client, host: str, protocol: str
) -> None:
    scheme = host.split(":", 1)[0]
    assert_rejected(
        create(api, {"host": host, "protocol": protocol}),
        ["host"],
        f"the pasted URL says {scheme}:// but protocol is {protocol}",
    )


def test_unknown_protocol_is_rejected(api: httpx2.Client) -> None:
    assert_rejected(create(api, {"protocol": "ftp"}), ["protocol"], "'https' or 'http'")


# -- headers --------------------------------------------------------------------------------


def test_headers_default_to_json_content_type(api: httpx2.Client) -> None:
    response = create(api, {})
    assert response.status_code == 201
    assert response.json()["headers"] == "Content-Type: application/json"


@pytest.mark.parametrize(
    "headers",
    [
        "Accept: text/html, application/json",
        "Content-Type: application/json, X-Source: SecureChange",
        "X-Empty:",
        "",
    ],
)
def test_good_headers_are_kept_as_typed(api: httpx2.Client, headers: str) -> None:
    response = create(api, {"headers": headers})
    assert response.status_code == 201, response.text
    assert response.json()["headers"] == headers


def test_comma_inside_a_value_stays_in_the_value(api: httpx2.Client, shared_wi: LiveWI) -> None:
    response = create(api, {"headers": "Accept: text/html, application/json, X-Trace: on"})
    assert response.status_code == 201, response.text
    config = shared_wi.services.servers.get_config(response.json()["name"])
    assert config.header_list == [("Accept", "text/html, application/json"), ("X-Trace", "on")]


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        pytest.param("X-A: 1\r\nX-B: 2", "CR character", id="crlf"),
        pytest.param("X-A: 1\nX-B: 2", "line break character", id="lf"),
        pytest.param("X-A: 1\x00", "NUL character", id="nul"),
        pytest.param("Garbage, X-A: 1", "header 1 has no ':'", id="no-colon-first"),
        pytest.param(", X-A: 1", "header 1 is empty", id="leading-comma"),
        pytest.param("Bad Name: x", "'Bad Name' is not a valid header name", id="space-in-name"),
        pytest.param("Bad(Name): x, X-A: 1", "'Bad(Name)' is not a valid header name",
                     id="bad-token"),
        pytest.param("X-A: 1, X-B: bell\x07", "header 2 ('X-B') holds a control character",
                     id="control-in-second"),
        pytest.param(": value", "'' is not a valid header name", id="empty-name"),
        pytest.param("X-A: bell\x07", "control character", id="control-in-value"),
        pytest.param("X-Site: Überlingen", "holds 'Ü', which an HTTP header cannot carry",
                     id="non-ascii-value"),
        pytest.param("X-Site: 東京", "holds '東'", id="cjk-value"),
    ],
)
def test_bad_headers_are_rejected(api: httpx2.Client, headers: str, fragment: str) -> None:
    assert_rejected(create(api, {"headers": headers}), ["headers"], fragment)


@pytest.mark.parametrize(
    "auth", [BASIC, OAUTH_PASSWORD, OAUTH_REFRESH, {"method": "bearer", "token": "t0ken"}],
    ids=["basic", "oauth2-password", "oauth2-refresh", "bearer"],
)
def test_authorization_header_clashes_with_auth(api: httpx2.Client, auth: dict[str, Any]) -> None:
    response = create(api, {"headers": "authorization: Basic abc", "auth": auth})
    assert_rejected(response, ["headers"], f"is set by the {auth['method']} authentication")


def test_authorization_header_allowed_with_method_none(api: httpx2.Client) -> None:
    response = create(api, {"headers": "Authorization: ApiKey abc", "auth": {"method": "none"}})
    assert response.status_code == 201, response.text


# -- verify_certificate and certificate -----------------------------------------------------


@pytest.mark.parametrize("mode", ["disable", "enable"])
def test_verify_modes_without_certificate(api: httpx2.Client, mode: str) -> None:
    response = create(api, {"verify_certificate": mode})
    assert response.status_code == 201, response.text
    assert response.json()["verify_certificate"] == mode
    assert response.json()["certificate"] is None


def test_verify_certificate_defaults_to_disable(api: httpx2.Client) -> None:
    assert create(api, {}).json()["verify_certificate"] == "disable"


def test_unknown_verify_mode_is_rejected(api: httpx2.Client) -> None:
    assert_rejected(
        create(api, {"verify_certificate": "sometimes"}),
        ["verify_certificate"],
        "'disable', 'enable' or 'certificate'",
    )


def test_certificate_mode_needs_a_certificate(api: httpx2.Client) -> None:
    assert_rejected(
        create(api, {"verify_certificate": "certificate"}),
        ["certificate"],
        "upload the server's CA or self-signed certificate",
    )


def test_rules_joining_fields_come_with_the_field_errors_at_once(api: httpx2.Client) -> None:
    response = create(api, {
        "timeout_seconds": 0,
        "verify_certificate": "certificate",
        "client_certificate": self_signed().cert_pem,
        "headers": "Authorization: Basic abc",
        "auth": {"method": "basic", "username": "wi", "password": "s3cret-basic"},
    })
    assert response.status_code == 422, response.text
    found = [(e["loc"], e["msg"]) for e in response.json()["detail"]]
    by_field = {tuple(loc[1:]) for loc, _ in found}
    # One field error and three combination rules, each once, in one answer.
    assert by_field == {("timeout_seconds",), ("certificate",), ("client_key",), ("headers",)}
    assert len(found) == 4, found
    assert "s3cret-basic" not in response.text


def test_a_rule_on_an_unreadable_field_leaves_it_to_that_fields_error(api: httpx2.Client) -> None:
    response = create(api, {
        "verify_certificate": "certificate",
        "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "client_key": "not a key",
    })
    assert response.status_code == 422, response.text
    found = [(e["loc"][1:], e["msg"]) for e in response.json()["detail"]]
    assert [loc for loc, _ in found].count(["certificate"]) == 1, found
    assert [loc for loc, _ in found].count(["client_key"]) == 1, found


@pytest.mark.parametrize("mode", ["disable", "enable"])
def test_certificate_rejected_outside_certificate_mode(api: httpx2.Client, mode: str) -> None:
    response = create(api, {"verify_certificate": mode, "certificate": self_signed().cert_pem})
    assert_rejected(response, ["certificate"], "only used with Verify certificate = 'certificate'")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("hello", "is not PEM", id="plain-text"),
        pytest.param("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                     "certificate 1 cannot be read", id="garbage-pem"),
    ],
)
def test_non_pem_certificate_is_rejected(api: httpx2.Client, text: str, fragment: str) -> None:
    response = create(api, {"verify_certificate": "certificate", "certificate": text})
    assert_rejected(response, ["certificate"], fragment)


@pytest.mark.parametrize("field", ["certificate", "client_certificate"])
def test_certificate_with_a_private_key_is_rejected_without_echo(
    api: httpx2.Client, field: str
) -> None:
    pair = self_signed("bundle.example.com")
    body: dict[str, Any] = {field: pair.cert_pem + pair.key_pem}
    if field == "certificate":
        body["verify_certificate"] = "certificate"
    else:
        body["client_key"] = pair.key_pem
    response = create(api, body)
    assert_rejected(response, [field], "holds a private key; upload the certificate only")
    key_body = pair.key_pem.strip().splitlines()[1]
    assert key_body not in response.text


def test_expired_certificate_is_rejected(api: httpx2.Client) -> None:
    old = expired()
    response = create(api, {"verify_certificate": "certificate", "certificate": old.cert_pem})
    assert_rejected(
        response, ["certificate"], f"expired on {old.not_after:%Y-%m-%d}; upload a current one"
    )


def test_expired_certificate_in_a_bundle_is_named(api: httpx2.Client) -> None:
    bundle = self_signed().cert_pem + expired("old-ca.example.com").cert_pem
    response = create(api, {"verify_certificate": "certificate", "certificate": bundle})
    assert_rejected(response, ["certificate"], "certificate 2 (")
    assert "old-ca.example.com" in response.text


def test_certificate_info_is_shown(api: httpx2.Client) -> None:
    first, second = self_signed("ca-one.example.com"), self_signed("ca-two.example.com")
    response = create(
        api,
        {"verify_certificate": "certificate", "certificate": first.cert_pem + second.cert_pem},
    )
    assert response.status_code == 201, response.text
    name = response.json()["name"]
    info = api.get(f"{URL}/{name}").json()["certificate_info"]
    assert [i["subject"] for i in info] == [first.subject, second.subject]
    assert [i["issuer"] for i in info] == [first.subject, second.subject]  # self-signed
    assert [i["sha256_fingerprint"] for i in info] == [
        first.sha256_fingerprint,
        second.sha256_fingerprint,
    ]
    assert info[0]["not_after"].startswith(first.not_after.strftime("%Y-%m-%dT%H:%M:%S"))
    assert "CN=ca-one.example.com" in info[0]["subject"]


# -- proxy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "shown"),
    [
        pytest.param("10.20.0.9:3128", "http://10.20.0.9:3128", id="host-port-http-assumed"),
        pytest.param("proxy.example.com:8080", "http://proxy.example.com:8080", id="dns"),
        pytest.param("http://10.20.0.9:3128", "http://10.20.0.9:3128", id="http"),
        pytest.param("https://proxy.example.com:443", "https://proxy.example.com:443",
                     id="https"),
        pytest.param("socks5://10.20.0.9:1080", "socks5://10.20.0.9:1080", id="socks5"),
        pytest.param("[fd00::9]:3128", "http://[fd00::9]:3128", id="ipv6"),
        pytest.param("http://svc:pr0xy-pw@10.20.0.9:3128", "http://svc:********@10.20.0.9:3128",
                     id="credentials-masked"),
        pytest.param("svc:pr0xy-pw@10.20.0.9:3128", "http://svc:********@10.20.0.9:3128",
                     id="credentials-host-port"),
        pytest.param("http://svc@10.20.0.9:3128", "http://svc@10.20.0.9:3128", id="user-only"),
    ],
)
def test_proxy_forms(api: httpx2.Client, shared_wi: LiveWI, proxy: str, shown: str) -> None:
    response = create(api, {"proxy": proxy})
    assert response.status_code == 201, response.text
    assert response.json()["proxy"] == shown
    assert "pr0xy-pw" not in response.text
    config = shared_wi.services.servers.get_config(response.json()["name"])
    assert config.proxy is not None
    if "pr0xy-pw" in proxy:
        assert config.proxy.username == "svc"
        assert config.proxy.password is not None
        assert config.proxy.password.get_secret_value() == "pr0xy-pw"
        assert "svc:pr0xy-pw@" in config.proxy.full_url()


@pytest.mark.parametrize(
    ("proxy", "loc", "fragment"),
    [
        pytest.param({"url": "ftp://10.20.0.9:21"}, ["proxy", "url"],
                     "proxy scheme 'ftp' is not supported", id="object-bad-scheme"),
        pytest.param({"url": "http://svc:pr0xy-pw@10.20.0.9:3128"}, ["proxy", "url"],
                     "must not carry credentials", id="object-credentials-in-url"),
        pytest.param({"url": "http://10.20.0.9:3128/x"}, ["proxy", "url"],
                     "a proxy URL has no path", id="object-path"),
    ],
)
def test_proxy_object_obeys_the_same_rules(
    api: httpx2.Client, proxy: dict[str, str], loc: list[str], fragment: str
) -> None:
    response = create(api, {"proxy": proxy})
    assert_rejected(response, loc, fragment)
    assert "pr0xy-pw" not in response.text


def test_proxy_object_with_credentials(api: httpx2.Client, shared_wi: LiveWI) -> None:
    proxy = {"url": "HTTP://10.20.0.9:3128", "username": "svc", "password": "pr0xy-pw"}
    response = create(api, {"proxy": proxy})
    assert response.status_code == 201, response.text
    assert response.json()["proxy"] == "http://svc:********@10.20.0.9:3128"
    name = response.json()["name"]
    masked = {"url": "http://10.20.0.9:3128", "username": "svc", "password": "********"}
    assert api.patch(f"{URL}/{name}", json={"proxy": masked}).status_code == 200
    config = shared_wi.services.servers.get_config(name)
    assert config.proxy is not None and config.proxy.password is not None
    assert config.proxy.password.get_secret_value() == "pr0xy-pw"


def test_proxy_is_optional(api: httpx2.Client) -> None:
    response = create(api, {"proxy": ""})
    assert response.status_code == 201
    assert response.json()["proxy"] is None


@pytest.mark.parametrize(
    ("proxy", "fragment"),
    [
        pytest.param("ftp://10.20.0.9:21", "proxy scheme 'ftp' is not supported", id="ftp"),
        pytest.param("socks4://10.20.0.9:1080", "proxy scheme 'socks4' is not supported",
                     id="socks4"),
        pytest.param("http://10.20.0.9:99999", "between 1 and 65535", id="port"),
        pytest.param("http://10.20.0.9:3128/path", "a proxy URL has no path", id="path"),
        pytest.param("http://", "enter the proxy as host:port", id="no-host"),
    ],
)
def test_bad_proxies_are_rejected(api: httpx2.Client, proxy: str, fragment: str) -> None:
    assert_rejected(create(api, {"proxy": proxy}), ["proxy"], fragment)


def test_proxy_error_does_not_echo_the_password(api: httpx2.Client) -> None:
    response = create(api, {"proxy": "ftp://svc:pr0xy-pw@10.20.0.9:21"})
    assert response.status_code == 422
    assert "pr0xy-pw" not in response.text


# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "shown"),
    [
        pytest.param(BASIC, {"method": "basic", "username": "wi-service", "password": "********"},
                     id="basic"),
        pytest.param(
            OAUTH_PASSWORD,
            {"method": "oauth2", "grant_type": "password", "username": "wi-service",
             "password": "********", "client_id": "client-1", "client_secret": "********",
             "scope": "useraccount", "client_auth": "client_secret_basic"},
            id="oauth2-password",
        ),
        pytest.param(
            {k: v for k, v in OAUTH_PASSWORD.items() if k != "grant_type"},
            {"method": "oauth2", "grant_type": "password"},
            id="oauth2-grant-defaults-to-password",
        ),
        pytest.param(
            {**OAUTH_REFRESH, "client_auth": "client_secret_post"},
            {"method": "oauth2", "grant_type": "refresh_token", "refresh_token": "********",
             "client_secret": "********", "scope": None, "client_auth": "client_secret_post"},
            id="oauth2-refresh-token-post",
        ),
        pytest.param({"method": "bearer", "token": "b3arer"},
                     {"method": "bearer", "token": "********", "token_script": None},
                     id="bearer-token"),
        pytest.param({"method": "none"}, {"method": "none"}, id="none"),
    ],
)
def test_auth_methods_are_accepted(
    api: httpx2.Client, auth: dict[str, Any], shown: dict[str, Any]
) -> None:
    response = create(api, {"auth": auth})
    assert response.status_code == 201, response.text
    got = response.json()["auth"]
    assert {k: got.get(k) for k in shown} == shown


def test_auth_defaults_to_none(api: httpx2.Client) -> None:
    assert create(api, {}).json()["auth"] == {"method": "none"}


@pytest.mark.parametrize(
    ("auth", "loc", "fragment"),
    [
        pytest.param({"method": "basic", "username": "u"}, ["auth", "password"],
                     "the login password is required", id="basic-no-password"),
        pytest.param({"method": "basic", "username": "u", "password": ""}, ["auth", "password"],
                     "the login password is required", id="basic-empty-password"),
        pytest.param({"method": "basic", "password": "p"}, ["auth", "username"],
                     "a value is required", id="basic-no-user"),
        pytest.param({"method": "basic", "username": "a:b", "password": "p"},
                     ["auth", "username"], "cannot contain ':'", id="basic-colon-user"),
        pytest.param({**OAUTH_PASSWORD, "password": None}, ["auth", "password"],
                     "the login password is required", id="oauth-password-missing"),
        pytest.param({k: v for k, v in OAUTH_PASSWORD.items() if k != "client_secret"},
                     ["auth", "client_secret"], "the client secret is required",
                     id="oauth-client-secret-missing"),
        pytest.param({k: v for k, v in OAUTH_PASSWORD.items() if k != "client_id"},
                     ["auth", "client_id"], "a value is required", id="oauth-client-id-missing"),
        pytest.param({k: v for k, v in OAUTH_PASSWORD.items() if k != "username"},
                     ["auth", "username"], "a value is required", id="oauth-username-missing"),
        pytest.param({**OAUTH_PASSWORD, "token_url": "itsm.example.com/token"},
                     ["auth", "token_url"], "must be a full http(s) URL", id="token-url-no-scheme"),
        pytest.param({**OAUTH_PASSWORD, "token_url": "https://a:b@itsm.example.com/t"},
                     ["auth", "token_url"], "must not carry credentials", id="token-url-creds"),
        pytest.param({**OAUTH_PASSWORD, "client_auth": "private_key_jwt"},
                     ["auth", "client_auth"], "'client_secret_basic' or 'client_secret_post'",
                     id="client-auth-unknown"),
        pytest.param({**OAUTH_REFRESH, "refresh_token": ""}, ["auth", "refresh_token"],
                     "the refresh token is required", id="refresh-token-missing"),
        pytest.param({**OAUTH_REFRESH, "username": "u"}, ["auth", "username"],
                     "not a setting WI knows", id="refresh-with-username"),
        pytest.param({**OAUTH_PASSWORD, "grant_type": "client_credentials"}, ["auth"],
                     "grant_type password or refresh_token", id="unknown-grant"),
        pytest.param({"method": "bearer"}, ["auth", "token"],
                     "enter a token or a token script", id="bearer-empty"),
        pytest.param({"method": "bearer", "token_script": "scripts/token.sh"},
                     ["auth", "token_script"], "must be a full path", id="script-relative"),
        pytest.param({"method": "bearer", "token": "t", "token_script_timeout_seconds": 0},
                     ["auth", "token_script_timeout_seconds"], "greater than 0",
                     id="script-timeout-0"),
        pytest.param({"method": "bearer", "token": "t", "token_script_ttl_seconds": 10**20},
                     ["auth", "token_script_ttl_seconds"], "at most 31536000",
                     id="script-ttl-huge"),
        pytest.param({"method": "bearer", "token": "t", "token_script_ttl_seconds": 0},
                     ["auth", "token_script_ttl_seconds"], "greater than 0", id="script-ttl-0"),
        pytest.param({"method": "digest", "username": "u"}, ["auth"],
                     "method must be one of basic, oauth2", id="unknown-method"),
        pytest.param({}, ["auth"], "method must be one of", id="no-method"),
        pytest.param("basic", ["auth"], "method must be one of", id="not-an-object"),
    ],
)
def test_bad_auth_is_rejected(
    api: httpx2.Client, auth: Any, loc: list[str], fragment: str
) -> None:
    assert_rejected(create(api, {"auth": auth}), loc, fragment)


def test_bad_auth_error_never_echoes_secrets(api: httpx2.Client) -> None:
    response = create(api, {"auth": {**OAUTH_PASSWORD, "token_url": "nope", "client_auth": 1}})
    assert response.status_code == 422
    for secret in ("s3cret-login", "s3cret-client"):
        assert secret not in response.text


# -- token scripts (real files) -------------------------------------------------------------


def _script(folder: Path, name: str, mode: int) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\necho token-from-script\n")
    os.chmod(path, mode)
    return path


def _with_script(path: Path | str) -> dict[str, Any]:
    return {"auth": {"method": "bearer", "token_script": str(path)}}


def test_good_token_script_is_accepted(api: httpx2.Client, tmp_path: Path) -> None:
    script = _script(tmp_path, "token_script.sh", 0o700)
    response = create(api, _with_script(script))
    assert response.status_code == 201, response.text
    assert response.json()["auth"]["token_script"] == str(script)
    assert response.json()["auth"]["token"] is None


def test_token_and_script_together_are_accepted(api: httpx2.Client, tmp_path: Path) -> None:
    script = _script(tmp_path, "token_script.sh", 0o750)
    response = create(
        api, {"auth": {"method": "bearer", "token": "wins", "token_script": str(script)}}
    )
    assert response.status_code == 201, response.text
    assert response.json()["auth"]["token"] == "********"


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        pytest.param(0o600, "is not executable; run chmod 700 on it", id="not-executable"),
        pytest.param(0o770, "writable by group or others", id="group-writable"),
        pytest.param(0o702, "writable by group or others", id="world-writable"),
    ],
)
def test_unsafe_token_scripts_are_rejected(
    api: httpx2.Client, tmp_path: Path, mode: int, fragment: str
) -> None:
    script = _script(tmp_path, "token_script.sh", mode)
    assert_rejected(create(api, _with_script(script)), ["auth", "token_script"], fragment)


def test_missing_token_script_is_rejected(api: httpx2.Client, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sh"
    assert_rejected(
        create(api, _with_script(missing)),
        ["auth", "token_script"],
        f"the token script {missing} does not exist on the WI host",
    )


def test_folder_as_token_script_is_rejected(api: httpx2.Client, tmp_path: Path) -> None:
    assert_rejected(
        create(api, _with_script(tmp_path)), ["auth", "token_script"], "is not a regular file"
    )


# -- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("timeout_seconds", 0, "greater than 0"),
        ("timeout_seconds", -5, "greater than 0"),
        ("timeout_seconds", 600.5, "at most 600"),
        ("timeout_seconds", "soon", "enter a number"),
        ("max_concurrency", 0, "at least 1"),
        ("max_concurrency", 257, "at most 256"),
        ("max_concurrency", 2.5, "enter a whole number"),
        ("enabled", "perhaps", "choose yes or no"),
    ],
)
def test_numbers_out_of_bounds_are_rejected(
    api: httpx2.Client, field: str, value: Any, fragment: str
) -> None:
    assert_rejected(create(api, {field: value}), [field], fragment)


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout_seconds", 0.5), ("timeout_seconds", 600), ("max_concurrency", 1),
     ("max_concurrency", 256)],
)
def test_numbers_at_bounds_are_accepted(api: httpx2.Client, field: str, value: Any) -> None:
    response = create(api, {field: value})
    assert response.status_code == 201, response.text
    assert response.json()[field] == value


def test_defaults(api: httpx2.Client) -> None:
    got = create(api, {}).json()
    assert (got["timeout_seconds"], got["max_concurrency"], got["enabled"]) == (30, 8, True)
    assert got["protocol"] == "https"


def test_unknown_field_is_rejected(api: httpx2.Client) -> None:
    assert_rejected(create(api, {"hostname": "x"}), ["hostname"], "not a setting WI knows")


def test_every_bad_field_is_reported_at_once(api: httpx2.Client) -> None:
    response = api.post(
        URL,
        json={"name": "a/b", "host": "x.example.com:0", "proxy": "ftp://p:1",
              "timeout_seconds": 0, "headers": "Bad Name: 1"},
    )
    assert response.status_code == 422
    fields = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert fields >= {("body", f) for f in ("name", "host", "proxy", "timeout_seconds", "headers")}


# -- mutual TLS -------------------------------------------------------------------------------


def test_client_certificate_and_key_go_together(api: httpx2.Client) -> None:
    pair = self_signed("wi-client")
    assert_rejected(
        create(api, {"client_certificate": pair.cert_pem}), ["client_key"], "go together"
    )
    response = create(api, {"client_certificate": pair.cert_pem, "client_key": pair.key_pem})
    assert response.status_code == 201, response.text
    assert response.json()["client_key"] == "********"


def test_client_key_must_belong_to_the_certificate(api: httpx2.Client) -> None:
    mine, other = self_signed("wi-client"), self_signed("someone-else")
    response = create(api, {"client_certificate": mine.cert_pem, "client_key": other.key_pem})
    assert_rejected(response, ["client_key"], "does not belong to the client certificate")
    assert other.key_pem.strip().splitlines()[1] not in response.text


def test_bad_client_key_is_rejected_without_echo(api: httpx2.Client) -> None:
    pair = self_signed("wi-client")
    secret_text = (
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
    )
    response = create(api, {"client_certificate": pair.cert_pem, "client_key": secret_text})
    assert_rejected(response, ["client_key"], "paste the whole unencrypted PEM private key")
    assert "c2VjcmV0LWtleS1ieXRlcw" not in response.text


# -- warnings ---------------------------------------------------------------------------------


def test_warnings_name_disabled_tls_and_plain_http(api: httpx2.Client) -> None:
    tls_off = create(api, {"protocol": "https", "verify_certificate": "disable"}).json()
    assert any("TLS certificate verification is disabled" in w for w in tls_off["warnings"])
    plain = create(api, {"protocol": "http"}).json()
    assert any("protocol is HTTP" in w for w in plain["warnings"])
    verified = create(api, {"verify_certificate": "enable"}).json()
    assert verified["warnings"] == []


def test_warning_for_a_certificate_expiring_soon(api: httpx2.Client) -> None:
    from datetime import UTC, datetime, timedelta

    soon = self_signed("soon.example.com", valid_until=datetime.now(UTC) + timedelta(days=5))
    got = create(api, {"verify_certificate": "certificate", "certificate": soon.cert_pem}).json()
    assert any("soon.example.com" in w and "expires on" in w for w in got["warnings"])
