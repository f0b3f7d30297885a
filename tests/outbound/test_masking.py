"""Masking never reveals more than it promises (property tests)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workflow_integrator.domain.redaction import (
    MASK,
    redact_headers,
    redact_text,
    redact_url,
    scrub,
    token_preview,
)

TOKEN_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


@given(st.text(TOKEN_CHARS, min_size=1, max_size=200))
def test_preview_shows_at_most_eight_characters(token: str) -> None:
    preview = token_preview(token)
    if len(token) < 16:
        assert preview == "********"
    else:
        assert preview == f"{token[:4]}…{token[-4:]}"
        assert token[4:-4] not in preview


@given(
    st.sampled_from(["password", "token", "secret", "Authorization", "key"]),
    st.sampled_from(["=", ": ", " "]),
    # A leading "S3" keeps the secret from matching the surrounding words or the mask.
    st.text(TOKEN_CHARS, min_size=4, max_size=60).map(lambda s: "S3" + s.replace("*", "x")),
)
def test_key_value_secrets_are_masked(name: str, separator: str, secret: str) -> None:
    line = f"login failed: {name}{separator}{secret} (retrying)"
    assert secret not in redact_text(line)


@given(st.text(st.sampled_from("abcdefXYZ0123456789-_."), min_size=20, max_size=200))
def test_long_token_like_runs_are_masked(secret: str) -> None:
    assert secret not in redact_text(f"got {secret} from the vault")


def test_secret_headers_are_masked_and_the_scheme_stays_visible() -> None:
    headers = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer eyJhbGciOi.secret"),
        ("Proxy-Authorization", "Basic d2k6cHc="),
        ("Cookie", "session=abc"),
        ("X-API-Key", "k-123456"),
        ("X-Vault-Token", "hvs.123456"),
        ("X-Request-Id", "42"),
    ]
    assert redact_headers(headers) == [
        ("Content-Type", "application/json"),
        ("Authorization", f"Bearer {MASK}"),
        ("Proxy-Authorization", f"Basic {MASK}"),
        ("Cookie", MASK),
        ("X-API-Key", MASK),
        ("X-Vault-Token", MASK),
        ("X-Request-Id", "42"),
    ]
    assert redact_headers({"X-Tenant": "t1"}, extra_secret_names=["x-tenant"]) == [
        ("X-Tenant", MASK)
    ]


def test_urls_keep_the_user_and_lose_the_password_and_secret_parameters() -> None:
    assert redact_url("http://wi:pa%40ss@proxy.example.com:3128") == (
        f"http://wi:{MASK}@proxy.example.com:3128"
    )
    assert redact_url("http://wi@proxy.example.com:3128") == "http://wi@proxy.example.com:3128"
    assert redact_url("https://x.example.com/cb?code=1&access_token=abc&state=s") == (
        f"https://x.example.com/cb?code=1&access_token={MASK}&state=s"
    )
    assert redact_url("https://x.example.com/a?b=c") == "https://x.example.com/a?b=c"


@given(st.text(TOKEN_CHARS, min_size=4, max_size=40), st.text(max_size=80))
def test_scrub_removes_every_known_secret(secret: str, around: str) -> None:
    text = f"{around}{secret}{around}{secret}"
    scrubbed = scrub(text, [secret, "", None])
    assert secret not in scrubbed.replace(MASK, "\x00")
    assert scrub("a pw here", ["pw"]) == "a pw here"  # too short to search for


def test_json_bodies_lose_their_secret_values() -> None:
    body = '{"access_token": "abc.def", "expires_in": 3600, "refresh_token": "r\\"1"}'
    assert redact_text(body) == (
        f'{{"access_token": "{MASK}", "expires_in": 3600, "refresh_token": "{MASK}"}}'
    )
