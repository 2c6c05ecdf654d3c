"""Secrets never reach what is written or printed; configs compare by a fingerprint blind to them."""
from __future__ import annotations

import json

import pytest

from agents.redact import REDACTED, fingerprint, is_secret_name, redact, redact_text, redact_url


@pytest.mark.parametrize("name", ["api_key", "API-KEY", "OPENAI_API_KEY", "hf_token", "token", "password",
                                  "client_secret", "credentials", "Authorization", "db_passwd"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "max_new_tokens", "tokenizer", "token_ids", "n_act_tokens",
                                  "model", "base_url", "keys", "author"])
def test_names_that_are_not_secrets(name):
    assert not is_secret_name(name)


def test_redact_masks_secret_options_and_url_credentials_at_any_depth():
    options = {
        "model": "m", "api_key": "sk-live-abcdef", "max_tokens": 64, "empty_token": None,
        "base_url": "https://bob:s3cret-pw@api.example.com/v1?api_key=sk-q-123&region=eu",
        "nested": [{"hf_token": "hf_abcdef"}, "http://plain.example.com/v1"],
    }
    safe = redact(options)
    text = json.dumps(safe)
    for secret in ("sk-live-abcdef", "s3cret-pw", "sk-q-123", "hf_abcdef"):
        assert secret not in text
    assert safe["api_key"] == REDACTED and safe["empty_token"] is None and safe["max_tokens"] == 64
    assert safe["base_url"] == f"https://bob:{REDACTED}@api.example.com/v1?api_key={REDACTED}&region=eu"
    assert safe["nested"] == [{"hf_token": REDACTED}, "http://plain.example.com/v1"]
    assert options["api_key"] == "sk-live-abcdef"  # the input is not changed
    assert "api_key" not in redact(options, drop=True)


def test_fingerprint_ignores_secrets_and_key_order_but_not_settings():
    a = {"model": "m", "temperature": 0.0, "api_key": "sk-one", "base_url": "http://u:p1@h/v1"}
    b = {"base_url": "http://u:p2@h/v1", "api_key": "sk-two", "temperature": 0.0, "model": "m"}
    assert fingerprint(a) == fingerprint(b) == fingerprint({k: v for k, v in a.items() if k != "api_key"})
    assert fingerprint(a) != fingerprint({**a, "temperature": 0.7})
    assert fingerprint(a) != fingerprint({**a, "base_url": "http://u:p1@other/v1"})
    assert len(fingerprint(a)) == 64


def test_redact_text_masks_known_values_and_url_passwords():
    message = 'HTTP 400: {"headers": {"Authorization": "Bearer sk-abc-123"}} from http://me:pw-99@host:8/v1'
    out = redact_text(message, ["sk-abc-123", None, "x"])
    assert out == (f'HTTP 400: {{"headers": {{"Authorization": "Bearer {REDACTED}"}}}} '
                   f'from http://me:{REDACTED}@host:8/v1')


def test_redact_url_leaves_other_text_alone():
    assert redact_url("not a url") == "not a url"
    assert redact_url("http://host/v1?a=1") == "http://host/v1?a=1"
