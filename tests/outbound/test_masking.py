"""Masking never reveals more than it promises (property tests)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workflow_integrator.outbound.diagnostics import mask_token
from workflow_integrator.outbound.token_script import mask_secrets

TOKEN_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


@given(st.text(TOKEN_CHARS, min_size=1, max_size=200))
def test_preview_shows_at_most_eight_characters(token: str) -> None:
    preview = mask_token(token)
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
    assert secret not in mask_secrets(line)


@given(st.text(st.sampled_from("abcdefXYZ0123456789-_."), min_size=20, max_size=200))
def test_long_token_like_runs_are_masked(secret: str) -> None:
    assert secret not in mask_secrets(f"got {secret} from the vault")
