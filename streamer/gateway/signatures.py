"""Request authentication: HubSpot signature v3, Slack signing secret, HTTP basic auth.

Pure functions of the request's parts, the secret and ``now`` (POSIX seconds), so
they are tested without a clock. Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import unquote

__all__ = [
    "basic_auth_valid",
    "hubspot_v3_signature",
    "hubspot_v3_valid",
    "slack_signature",
    "slack_valid",
]

# HubSpot decodes these URL-encoded characters in the URI before signing
# (its request validation guide lists them); the rest stay as sent.
_HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def _hubspot_uri(uri: str) -> str:
    out = []
    i = 0
    while i < len(uri):
        triple = uri[i : i + 3].upper()
        if uri[i] == "%" and triple in _HUBSPOT_DECODED:
            out.append(_HUBSPOT_DECODED[triple])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


def hubspot_v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Base64 HMAC-SHA256 of ``method + uri + body + timestamp`` with the client secret."""
    message = method.upper().encode() + _hubspot_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _fresh(timestamp: str, now: float, tolerance: float, unit: float) -> bool:
    try:
        moment = float(timestamp) / unit
    except ValueError:
        return False
    # older than the tolerance is a replay; far in the future is a forgery or a bad clock
    return now - tolerance <= moment <= now + tolerance


def hubspot_v3_valid(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance: float = 300.0,
) -> bool:
    """True when ``X-HubSpot-Signature-v3`` matches and ``X-HubSpot-Request-Timestamp``
    (milliseconds) is within ``tolerance`` seconds of ``now``."""
    if not timestamp or not signature or not _fresh(timestamp, now, tolerance, 1000.0):
        return False
    expected = hubspot_v3_signature(secret, method, uri, body, timestamp)
    if hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return True
    # a proxy may hand the path over decoded; HubSpot signed what it sent
    decoded = hubspot_v3_signature(secret, method, unquote(uri), body, timestamp)
    return hmac.compare_digest(decoded.encode(), signature.strip().encode())


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` and the hex HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the signing secret."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_valid(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance: float = 300.0,
) -> bool:
    """True when ``X-Slack-Signature`` matches and ``X-Slack-Request-Timestamp`` (seconds)
    is within ``tolerance`` of ``now``."""
    if not timestamp or not signature or not _fresh(timestamp, now, tolerance, 1.0):
        return False
    expected = slack_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def basic_auth_valid(header: str | None, username: str, password: str) -> bool:
    """True when an ``Authorization: Basic ...`` header carries these credentials."""
    if not header:
        return False
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, given = decoded.partition(b":")
    # evaluate both comparisons: no early exit that tells which part was wrong
    user_ok = hmac.compare_digest(user, username.encode())
    password_ok = hmac.compare_digest(given, password.encode())
    return bool(sep) and user_ok and password_ok
