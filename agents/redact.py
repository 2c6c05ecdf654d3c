"""Secrets out of everything that is written or printed: run files, logs, error messages.

A *secret* is the value of an option whose name says so (``api_key``, ``token``, ``password``,
``secret``, ``credentials``, ``authorization``, ...; ``max_tokens`` and ``tokenizer`` are not), the
password of a URL (``http://user:PASSWORD@host``), the ``Authorization: Basic`` token an HTTP client
derives from that URL's user and password (a server may echo it back), and a URL query parameter with a
secret's name (``?api_key=...``).

    redact(options)            # a copy to write: secrets replaced by REDACTED
    fingerprint(options)       # a hash to compare configs by, blind to secrets (a new key is not a new run)
    redact_text(message, [key])  # a message with the known secret values and URL passwords masked
    url_secrets(base_url)        # a URL's password and Basic token, as extra secrets for redact_text
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

REDACTED = "[REDACTED]"
#: option names (lower case, ``-`` read as ``_``) that hold secrets, alone or as a suffix (``hf_token``)
SECRET_NAMES = frozenset({
    "api_key", "apikey", "access_key", "secret_key", "private_key", "client_secret", "secret", "token",
    "password", "passwd", "credentials", "credential", "authorization", "auth", "bearer", "cookie",
})
_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<password>[^/\s@]+)@")


def is_secret_name(name: str) -> bool:
    """True when an option called ``name`` holds a secret (``api_key``, ``OPENAI_API_KEY``, ``hf_token``)."""
    key = name.lower().replace("-", "_")
    return key in SECRET_NAMES or any(key.endswith("_" + secret) for secret in SECRET_NAMES)


def redact_url(url: str) -> str:
    """``url`` with its password and secret-named query values replaced by REDACTED (other text as is)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username}:{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="[]")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact(value: Any, *, drop: bool = False) -> Any:
    """A copy of ``value`` (dicts, lists, tuples, strings, nested) safe to write: secret-named entries
    become REDACTED (``drop=True``: are left out) and URLs lose their passwords and secret query values."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_name(key):
                if not drop:
                    out[key] = REDACTED if item not in (None, "") else item
                continue
            out[key] = redact(item, drop=drop)
        return out
    if isinstance(value, list | tuple):
        return type(value)(redact(item, drop=drop) for item in value)
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value


def fingerprint(config: Any) -> str:
    """A SHA-256 hex digest of ``config`` with its secrets left out (see :func:`redact`), so that two
    configs that differ only in a key or a URL password compare equal; key order does not matter."""
    canonical = json.dumps(redact(config, drop=True), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _credential_forms(user: str, password: str) -> set[str]:
    """``password`` as written and percent-decoded, and the base64 token of the ``Authorization: Basic``
    header built from ``user`` and ``password`` (UTF-8 as httpx encodes them, Latin-1 as requests does)."""
    forms = {password, unquote(password)}
    userpass = f"{unquote(user)}:{unquote(password)}"
    for encoding in ("utf-8", "latin-1"):
        try:
            forms.add(base64.b64encode(userpass.encode(encoding)).decode("ascii"))
        except UnicodeEncodeError:
            continue
    return forms


def url_secrets(url: str | None) -> list[str]:
    """The forms in which the credentials of ``url`` can turn up in a message: its password (as written
    and percent-decoded) and the ``Basic`` token an HTTP client sends for ``http://user:password@host``;
    empty for a URL without a password. Pass them to :func:`redact_text` beside an API key."""
    match = _URL_PASSWORD.search(url or "")
    return sorted(_credential_forms(match["user"], match["password"])) if match else []


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` (values shorter than 4 characters are ignored), every URL password
    and the ``Basic`` token derived from each URL in ``text`` or in ``secrets`` replaced by REDACTED: for
    messages that may quote a request, e.g. a server's error body that echoes the request headers."""
    known = {s for s in secrets if s}
    for url in [text, *known]:
        for match in _URL_PASSWORD.finditer(url):
            known |= _credential_forms(match["user"], match["password"])
    for secret in sorted({s for s in known if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
