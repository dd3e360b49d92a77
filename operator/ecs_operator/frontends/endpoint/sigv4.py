"""AWS Signature Version 4, verified as ECS verifies it: over the headers the client says it signed.

Written out here (about 80 lines of hashlib/hmac) rather than through botocore's `SigV4Auth`:
botocore's signer chooses the headers to sign itself, while a verifier must use the client's
`SignedHeaders` (Go adds an unsigned `Accept-Encoding`, proxies add theirs); and it keeps the
endpoint's hot path free of botocore's request objects. The unit tests check it against requests
signed by botocore; the conformance suite against the JavaScript and Go SDKs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from ...api.errors import EcsError

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "ecs"
MAX_SKEW = timedelta(minutes=5)
AMZ_DATE = "%Y%m%dT%H%M%SZ"

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/aws4_request\s*,\s*"
    r"SignedHeaders=(?P<headers>[a-z0-9\-;.]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$")

BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.")
UNKNOWN_KEY = "The security token included in the request is invalid."


@dataclass(frozen=True)
class Signed:
    """What the client's Authorization header claims: checked against the secret by `verify`."""
    access_key_id: str
    date: str
    region: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: datetime
    amz_date: str


def parse(headers: Mapping[str, str], now: datetime) -> Signed:
    """The claim of a request's Authorization header, its date checked against `now` (±5 minutes);
    ECS's errors for a missing, malformed or stale signature."""
    authorization = headers.get("Authorization")
    if not authorization:
        raise EcsError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:
        if not authorization.startswith(ALGORITHM):
            raise EcsError("IncompleteSignatureException",
                           f"Unsupported signature algorithm in the Authorization header: only {ALGORITHM} is "
                           "accepted.")
        raise EcsError("IncompleteSignatureException",
                       "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters "
                       f"(AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/{SERVICE}/aws4_request, "
                       "SignedHeaders=<list>, Signature=<64 hex>).")
    if match["service"] != SERVICE:
        raise EcsError("InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE}'.")
    signed_headers = tuple(match["headers"].split(";"))
    if "host" not in signed_headers:
        raise EcsError("InvalidSignatureException", "'Host' must be a signed header.")
    amz_date, timestamp = _request_time(headers)
    if amz_date[:8] != match["date"]:
        raise EcsError("InvalidSignatureException",
                       f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                       f"'{match['date']}' != '{amz_date[:8]}', from '{amz_date}'.")
    if timestamp < now - MAX_SKEW:
        raise EcsError("InvalidSignatureException",
                       f"Signature expired: {amz_date} is now earlier than {(now - MAX_SKEW).strftime(AMZ_DATE)} "
                       f"({now.strftime(AMZ_DATE)} - 5 min.)")
    if timestamp > now + MAX_SKEW:
        raise EcsError("InvalidSignatureException",
                       f"Signature not yet current: {amz_date} is still later than "
                       f"{(now + MAX_SKEW).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} + 5 min.)")
    return Signed(match["akid"], match["date"], match["region"], signed_headers, match["signature"], timestamp,
                  amz_date)


def _request_time(headers: Mapping[str, str]) -> tuple[str, datetime]:
    amz_date = headers.get("X-Amz-Date")
    if amz_date:
        try:
            return amz_date, datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=UTC)
        except ValueError:
            raise EcsError("IncompleteSignatureException",
                           f"X-Amz-Date must be in the ISO-8601 basic format yyyyMMdd'T'HHmmss'Z': {amz_date!r}."
                           ) from None
    date = headers.get("Date")
    if date:
        try:
            parsed = parsedate_to_datetime(date).astimezone(UTC)
        except (TypeError, ValueError):
            raise EcsError("IncompleteSignatureException", f"Date must be an RFC 1123 date: {date!r}.") from None
        return parsed.strftime(AMZ_DATE), parsed
    raise EcsError("IncompleteSignatureException",
                   "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")


def canonical_request(method: str, path: str, query: str, headers: Mapping[str, str],
                      signed_headers: tuple[str, ...], body: bytes) -> str:
    """SigV4's canonical request, from the headers named in `signed_headers` only (values trimmed,
    inner runs of spaces folded, repeated headers joined by commas, as the signers do)."""
    lines = []
    for name in signed_headers:
        values = headers.getall(name, []) if hasattr(headers, "getall") else [headers.get(name, "")]
        lines.append(f"{name}:{','.join(' '.join(str(v).split()) for v in values)}\n")
    canonical_query = "&".join(sorted(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, _, v in (pair.partition("=") for pair in query.split("&") if pair)))
    return "\n".join([method, quote(path or "/", safe="/~"), canonical_query, "".join(lines),
                      ";".join(signed_headers), hashlib.sha256(body).hexdigest()])


def signing_key(secret: str, date: str, region: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, SERVICE, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(secret: str, signed: Signed, canonical: str) -> str:
    scope = f"{signed.date}/{signed.region}/{SERVICE}/aws4_request"
    to_sign = "\n".join([ALGORITHM, signed.amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(signing_key(secret, signed.date, signed.region), to_sign.encode(), hashlib.sha256).hexdigest()


def verify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, now: datetime,
           secret_of: Callable[[str], str | None]) -> Signed:
    """The verified claim of a request, or ECS's error: `secret_of(access_key_id)` is the key's secret
    (None for a key that does not exist or is inactive)."""
    signed = parse(headers, now)
    secret = secret_of(signed.access_key_id)
    if secret is None:
        raise EcsError("UnrecognizedClientException", UNKNOWN_KEY)
    expected = signature(secret, signed, canonical_request(method, path, query, headers, signed.signed_headers, body))
    if not hmac.compare_digest(expected, signed.signature):
        raise EcsError("InvalidSignatureException", BAD_SIGNATURE)
    return signed
