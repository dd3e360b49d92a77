"""The endpoint's pure parts: SigV4 verification against requests botocore signed, and the
awsJson1.1 request decoding and answer encoding."""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from ecs_operator.api.errors import EcsError
from ecs_operator.frontends.endpoint import protocol, sigv4

AKID, SECRET = "AKIAEXAMPLEEXAMPLE00", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TARGET = "AmazonEC2ContainerServiceV20141113.ListClusters"


def signed(body: bytes = b"{}", secret: str = SECRET, service: str = "ecs", host: str = "127.0.0.1:5373",
           token: str | None = None) -> tuple[CIMultiDict[str], bytes, datetime.datetime]:
    """A request as botocore signs it (its own SigV4Auth), headers as the server receives them."""
    request = AWSRequest("POST", f"http://{host}/", data=body,
                         headers={"Content-Type": protocol.CONTENT_TYPE, "X-Amz-Target": TARGET})
    SigV4Auth(Credentials(AKID, secret, token), service, "eu-west-1").add_auth(request)
    headers = CIMultiDict({"Host": host, "Accept-Encoding": "gzip", "User-Agent": "x"})  # unsigned extras
    headers.update({k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})
    when = datetime.datetime.strptime(headers["X-Amz-Date"], sigv4.AMZ_DATE).replace(tzinfo=datetime.UTC)
    return headers, body, when


def verify(headers, body, now, secret=SECRET):
    return sigv4.verify("POST", "/", "", headers, body, now, lambda akid: secret if akid == AKID else None)


def refusal(headers, body, now, secret=SECRET) -> tuple[str, str]:
    with pytest.raises(EcsError) as raised:
        verify(headers, body, now, secret)
    return raised.value.code, raised.value.message


def test_a_request_botocore_signed_verifies_over_its_signed_headers_only():
    headers, body, when = signed()
    claim = verify(headers, body, when)
    assert (claim.access_key_id, claim.region) == (AKID, "eu-west-1")
    assert "accept-encoding" not in claim.signed_headers  # Go's unsigned Accept-Encoding does not matter


def test_a_session_token_is_a_signed_header_like_any_other():
    headers, body, when = signed(token="TOKEN")
    assert "x-amz-security-token" in verify(headers, body, when).signed_headers


def test_a_wrong_secret_a_tampered_body_or_another_host_do_not_verify():
    headers, body, when = signed()
    assert refusal(headers, body, when, secret="other")[0] == "InvalidSignatureException"
    assert refusal(headers, b'{"maxResults": 1}', when) == ("InvalidSignatureException", sigv4.BAD_SIGNATURE)
    headers["Host"] = "127.0.0.1:9999"  # what a proxy that rewrites Host does
    assert refusal(headers, body, when)[0] == "InvalidSignatureException"


def test_an_unknown_key_is_unrecognized():
    headers, body, when = signed()
    with pytest.raises(EcsError) as raised:
        sigv4.verify("POST", "/", "", headers, body, when, lambda akid: None)
    assert (raised.value.code, raised.value.message) == ("UnrecognizedClientException", sigv4.UNKNOWN_KEY)


def test_five_minutes_of_skew_either_way_and_not_a_second_more():
    headers, body, when = signed()
    verify(headers, body, when + datetime.timedelta(minutes=5))
    verify(headers, body, when - datetime.timedelta(minutes=5))
    code, message = refusal(headers, body, when + datetime.timedelta(minutes=5, seconds=1))
    assert code == "InvalidSignatureException"
    assert message.startswith(f"Signature expired: {headers['X-Amz-Date']} is now earlier than ")
    assert message.endswith(" - 5 min.)")
    code, message = refusal(headers, body, when - datetime.timedelta(minutes=5, seconds=1))
    assert message.startswith(f"Signature not yet current: {headers['X-Amz-Date']} is still later than ")


def test_missing_and_malformed_signatures_get_ecs_errors():
    headers, body, when = signed()
    del headers["Authorization"]
    assert refusal(headers, body, when) == ("MissingAuthenticationTokenException", "Missing Authentication Token")
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request"
    assert refusal(headers, body, when)[0] == "IncompleteSignatureException"
    headers["Authorization"] = "Basic dXNlcjpwYXNz"
    assert refusal(headers, body, when)[0] == "IncompleteSignatureException"


def test_a_signature_for_another_service_is_refused():
    headers, body, when = signed(service="s3")
    assert refusal(headers, body, when) == ("InvalidSignatureException",
                                            "Credential should be scoped to correct service: 'ecs'.")


def test_operations_are_routed_by_target_and_unknown_ones_named():
    assert protocol.operation("AmazonEC2ContainerServiceV20141113.RunTask") == "RunTask"
    for target in (None, "", "AmazonEC2ContainerServiceV20141113.Nope", "DynamoDB_20120810.ListTables"):
        with pytest.raises(EcsError) as raised:
            protocol.operation(target)
        assert raised.value.code == "UnknownOperationException"


def test_decode_drops_unknown_members_and_checks_types_by_the_model():
    request = protocol.decode("RunTask", json.dumps({
        "taskDefinition": "web", "count": 2, "fromTheFuture": True,
        "overrides": {"containerOverrides": [{"name": "web", "newMember": 1}]}}).encode())
    assert request == {"taskDefinition": "web", "count": 2, "overrides": {"containerOverrides": [{"name": "web"}]}}
    assert protocol.decode("ListClusters", b"") == {}  # an empty body is {}
    cases = {b'{"taskDefinition": "web", "count": "2"}': ("SerializationException", "count must be an integer"),
             b'{"taskDefinition": "web", "count": true}': ("SerializationException", "count must be an integer"),
             b'{"taskDefinition": "web", "overrides": {"containerOverrides": [{"name": 3}]}}':
                 ("SerializationException", "overrides.containerOverrides[0].name must be a string"),
             b"[1]": ("SerializationException", "the request body must be an object"),
             b"{nope": ("SerializationException", "not valid JSON"),
             b"\xff\xfe": ("SerializationException", "not valid JSON"),
             b"{}": ("InvalidParameterException", "taskDefinition is required")}
    for body, (code, text) in cases.items():
        with pytest.raises(EcsError) as raised:
            protocol.decode("RunTask", body)
        assert raised.value.code == code and text in raised.value.message, body


def test_request_timestamps_are_epoch_seconds():
    request = protocol.decode("ListServiceDeployments", json.dumps(
        {"service": "web", "createdAt": {"after": 1700000000.5}}).encode())
    assert request["createdAt"]["after"] == datetime.datetime(2023, 11, 14, 22, 13, 20, 500000, datetime.UTC)


def test_answers_carry_epoch_timestamps_and_errors_their_type():
    when = datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, datetime.UTC)
    assert json.loads(protocol.encode({"tasks": [{"createdAt": when}], "failures": []})) == {
        "tasks": [{"createdAt": 1700000000.123}], "failures": []}
    assert json.loads(protocol.error_body(EcsError("ClusterNotFoundException", "Cluster not found."))) == {
        "__type": "ClusterNotFoundException", "message": "Cluster not found."}
