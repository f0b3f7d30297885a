"""Property-based tests: what WI parses, it prints back so that it parses the same again."""

from __future__ import annotations

import contextlib
import re
import string

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.servers.live_wi import LiveWI
from workflow_integrator.domain.headers import format_headers, parse_headers
from workflow_integrator.domain.hosts import HostTarget, parse_host
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.services.errors import Conflict, InvalidInput

TOKEN_CHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
# What a later header looks like to the parser: a comma, then ``Name:``.
LOOKS_LIKE_NEXT_HEADER = re.compile(r",\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*:")

header_names = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=20)
header_values = (
    st.text(
        # Printable ASCII incl. blanks, commas and colons: what a header value may hold.
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        max_size=40,
    )
    .map(str.strip)
    .filter(lambda value: not LOOKS_LIKE_NEXT_HEADER.search(value))
)
header_lists = st.lists(st.tuples(header_names, header_values), max_size=6)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(header_lists)
@example([("Accept", "text/html, application/json"), ("X-Source", "SecureChange")])
@example([("X-List", "a, b, c,"), ("X-Empty", ""), ("X-Url", "https://a.example.com:8443/x")])
def test_formatted_headers_parse_back_to_the_same_list(headers: list[tuple[str, str]]) -> None:
    text = format_headers(headers)
    assert parse_headers(text) == headers
    assert format_headers(parse_headers(text)) == text


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.text(alphabet=TOKEN_CHARS + " ,:;=/", max_size=60))
def test_any_accepted_header_text_is_stable(text: str) -> None:
    try:
        parsed = parse_headers(text)
    except ValueError:
        return  # rejected input has its own tests; here only accepted text matters
    assert parse_headers(format_headers(parsed)) == parsed


dns_labels = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z")
hostnames = st.lists(dns_labels, min_size=1, max_size=4).map(".".join).filter(
    lambda name: not name.rsplit(".", 1)[-1].isdigit()
)
addresses = st.one_of(
    hostnames,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
path_segments = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@", min_size=1, max_size=12
)
base_paths = st.lists(path_segments, max_size=3).map(
    lambda segments: "".join("/" + s for s in segments)
)
targets = st.builds(
    HostTarget,
    hostname=addresses,
    port=st.one_of(st.none(), st.integers(min_value=1, max_value=65535)),
    base_path=base_paths,
)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(targets)
@example(HostTarget("fd00::5", 8443, ""))
@example(HostTarget("10.0.0.5", None, "/api/now"))
def test_host_display_parses_back_to_the_same_target(target: HostTarget) -> None:
    assert parse_host(target.display()) == target


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(targets, st.sampled_from(["http", "https"]))
def test_pasted_url_gives_the_same_target_and_protocol(target: HostTarget, scheme: str) -> None:
    assume(target.base_path != "/")
    server = OutboundServer.model_validate(
        {"name": "pasted", "host": f"{scheme}://{target.display()}"}
    )
    assert server.protocol == scheme
    assert server.target == target
    assert server.base_url == f"{scheme}://{target.display()}"


@settings(max_examples=50, deadline=None)
@given(targets)
def test_stored_host_is_stable(target: HostTarget) -> None:
    first = OutboundServer.model_validate({"name": "s", "host": target.display()})
    again = OutboundServer.model_validate({"name": "s", "host": first.host})
    assert again.host == first.host == target.display()


FRAGMENTS = [
    *"[]:/@?#%.-_ ,;=\t\r\n\x00",
    "::", "//", "http://", "https://", "socks5://",
    "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----",
]
# Text made of URL and PEM fragments plus arbitrary Unicode: what users paste.
any_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=12
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["name", "host", "headers", "proxy", "certificate", "client_key"]),
    value=any_text,
)
def test_any_text_in_any_field_is_valid_or_a_validation_error(field: str, value: str) -> None:
    """User input never escapes as an unexpected exception (which the API would turn into 500)."""
    body: dict[str, object] = {"name": "fuzz", "host": "itsm.example.com", field: value}
    if field == "certificate":
        body["verify_certificate"] = "certificate"
    with contextlib.suppress(ValidationError):
        OutboundServer.model_validate(body)


@settings(max_examples=200, deadline=None)
@given(
    url=any_text,
    username=st.one_of(st.none(), any_text),
    grant=st.sampled_from(["password", "refresh_token", None]),
)
def test_any_auth_text_is_valid_or_a_validation_error(
    url: str, username: str | None, grant: str | None
) -> None:
    auth = {"method": "oauth2", "token_url": url, "client_id": "c", "client_secret": "s",
            "username": username, "password": "p", "refresh_token": "r", "grant_type": grant}
    with contextlib.suppress(ValidationError):
        OutboundServer.model_validate({"name": "fuzz", "host": "h.example.com", "auth": auth})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=6,
)
SERVER_FIELDS = ["name", "host", "protocol", "headers", "verify_certificate", "certificate",
                 "proxy", "timeout_seconds", "client_certificate", "client_key",
                 "max_concurrency", "enabled"]
AUTH_FIELDS = ["method", "grant_type", "username", "password", "token_url", "client_id",
               "client_secret", "scope", "client_auth", "refresh_token", "token",
               "token_script", "token_script_timeout_seconds", "token_script_ttl_seconds"]
auth_values = st.one_of(
    json_values,
    st.sampled_from(["basic", "oauth2", "bearer", "none", "password", "refresh_token",
                     "********", "https://t.example.com/token", "/bin/true"]),
)
auth_bodies = st.fixed_dictionaries(
    {"method": st.one_of(st.sampled_from(["basic", "oauth2", "bearer", "none"]), json_values)},
    optional={field: auth_values for field in AUTH_FIELDS if field != "method"},
)
server_bodies = st.dictionaries(
    st.sampled_from(SERVER_FIELDS), json_values, max_size=5
).flatmap(
    lambda body: st.one_of(st.just(body), auth_bodies.map(lambda auth: {**body, "auth": auth}))
)


@settings(max_examples=150, deadline=None)
@given(body=server_bodies, patch=server_bodies)
def test_any_json_is_stored_or_refused_with_field_errors(
    shared_wi: LiveWI, body: dict[str, object], patch: dict[str, object]
) -> None:
    """Create, replace and patch answer with a result or per-field errors, never a crash."""
    servers = shared_wi.services.servers
    base = {"name": "fuzz-base", "host": "h.example.com",
            "auth": {"method": "basic", "username": "u", "password": "p"}}
    if "fuzz-base" not in servers.names():
        servers.create(base)
    for call in (
        lambda: servers.create({"name": "fuzz-new", **body}),
        lambda: servers.replace("fuzz-base", {**body, "name": "fuzz-base"}),
        lambda: servers.update("fuzz-base", patch),
    ):
        try:
            call()
        except (InvalidInput, Conflict) as exc:
            if isinstance(exc, InvalidInput):
                assert all(isinstance(e["msg"], str) and e["msg"] for e in exc.errors)
    if "fuzz-new" in servers.names():
        servers.delete("fuzz-new")
    servers.replace("fuzz-base", base)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(
    scheme=st.sampled_from(["http", "https", "socks5"]),
    target=st.builds(
        HostTarget, hostname=addresses, port=st.integers(min_value=1, max_value=65535)
    ),
    username=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
    password=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
)
def test_proxy_credentials_survive_the_url(
    scheme: str, target: HostTarget, username: str | None, password: str | None
) -> None:
    """Any user name and password (with @, :, /, %...) come back from the proxy URL intact."""
    from pydantic import SecretStr

    from workflow_integrator.domain.outbound_server import ProxySetting

    assume(username is not None or password is None)
    proxy = ProxySetting(
        url=f"{scheme}://{target.netloc()}",
        username=username,
        password=SecretStr(password) if password else None,
    )
    again = ProxySetting.parse(proxy.full_url())
    assert (again.url, again.username) == (proxy.url, proxy.username)
    assert again.password == proxy.password
    shown = ProxySetting.parse(proxy.display())
    assert (shown.url, shown.username) == (proxy.url, proxy.username)
