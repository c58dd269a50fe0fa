"""An http source's `verify:` (issue 23): each scheme accepts requests signed the way its sender
documents it (the senders' algorithms are written here from their documentation, not taken from
hookd; Standard Webhooks uses the reference `standardwebhooks` package), and refuses tampered bodies,
wrong secrets, stale or future timestamps, missing and malformed headers, with a reason that never
quotes a secret, a signature or the body."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from hookd.config.model import VerifyConfig
from hookd.inbound.request import InboundRequest
from hookd.inbound.verify import SCHEMES, Verdict, Verifier, VerifyFailed, build_verifier
from hookd.keys import generate_key_pair, generate_secret, public_key_text
from hookd.signing import StandardSigner, load_private_key, standard_key

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z: every test passes `now`, no clock is read
BODY = b'{"id": "evt_1", "type": "invoice.paid", "amount": 4200}'
NEW, OLD = "newest-shared-secret-1", "older-shared-secret-2"
WHSEC_NEW, WHSEC_OLD = generate_secret(), generate_secret()

Headers = dict[str, str]
Query = tuple[tuple[str, str], ...]
# What a sender puts on the wire for one request: (headers, query), from (secret, body, timestamp).
Sign = Callable[[str, bytes, int], tuple[Headers, Query]]


def hex_hmac(secret: str, content: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), content, algorithm).hexdigest()


def github(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    return {"X-Hub-Signature-256": "sha256=" + hex_hmac(secret, body), "X-GitHub-Event": "push"}, ()


def gitlab(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    return {"X-Gitlab-Token": secret, "X-Gitlab-Event": "Push Hook"}, ()


def stripe(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    return {"Stripe-Signature": f"t={ts},v1={hex_hmac(secret, f'{ts}.'.encode() + body)}"}, ()


def slack(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    signature = "v0=" + hex_hmac(secret, f"v0:{ts}:".encode() + body)
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": signature}, ()


def standard(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    signature = Webhook(secret).sign("msg_2Lh9", datetime.fromtimestamp(ts, UTC), body)
    return {"webhook-id": "msg_2Lh9", "webhook-timestamp": str(ts), "webhook-signature": signature}, ()


def generic_hmac(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    digest = hmac.new(secret.encode(), f"dlv-7.{ts}.".encode() + body, "sha512").digest()
    signature = "sha512=" + base64.b64encode(digest).decode()
    return {"X-Signature": signature, "X-Timestamp": str(ts), "X-Delivery": "dlv-7"}, ()


def api_key_header(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    return {"X-Api-Key": secret}, ()


def api_key_query(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    return {}, (("tenant", "acme"), ("key", secret))


def basic(secret: str, body: bytes, ts: int) -> tuple[Headers, Query]:
    return {"Authorization": "Basic " + base64.b64encode(f"form-bot:{secret}".encode()).decode()}, ()


@dataclass(frozen=True)
class Case:
    name: str
    config: VerifyConfig
    sign: Sign
    header: str  # the credential or signature header, or the query parameter
    malformed: str | None  # a value of `header` that is not what the scheme expects; None: any value is a token
    signs_body: bool = True
    timestamp_header: str = ""  # where the signed timestamp is; "": the scheme has none
    secrets: tuple[str, str] = (NEW, OLD)

    @property
    def timestamped(self) -> bool:
        return bool(self.timestamp_header)


def config(**fields: object) -> VerifyConfig:
    return VerifyConfig(secrets=(NEW, OLD), **fields)  # type: ignore[arg-type]


HMAC = config(
    type="hmac",
    header="X-Signature",
    algorithm="sha512",
    encoding="base64",
    prefix="sha512=",
    content="{id}.{timestamp}.{body}",
    timestamp_header="X-Timestamp",
    id_header="X-Delivery",
)
CASES = [
    Case("github", config(type="github"), github, "X-Hub-Signature-256", "sha1=" + "ab" * 20),
    Case("gitlab", config(type="gitlab"), gitlab, "X-Gitlab-Token", None, signs_body=False),
    Case("stripe", config(type="stripe"), stripe, "Stripe-Signature", "t=1,v2=zz", timestamp_header="Stripe-Signature"),
    Case(
        "slack",
        config(type="slack"),
        slack,
        "X-Slack-Signature",
        "v1=" + "00" * 32,
        timestamp_header="X-Slack-Request-Timestamp",
    ),
    Case(
        "standard",
        VerifyConfig(type="standard", secrets=(WHSEC_NEW, WHSEC_OLD)),
        standard,
        "webhook-signature",
        "v1 AAAA",
        timestamp_header="webhook-timestamp",
        secrets=(WHSEC_NEW, WHSEC_OLD),
    ),
    Case("hmac", HMAC, generic_hmac, "X-Signature", "sha512=not base64!", timestamp_header="X-Timestamp"),
    Case("api_key-header", config(type="api_key", header="X-Api-Key"), api_key_header, "X-Api-Key", None, False),
    Case("api_key-query", config(type="api_key", query="key"), api_key_query, "key", None, False),
    Case("basic", config(type="basic", username="form-bot"), basic, "Authorization", "Bearer abc.def", False),
]
BODY_SIGNED = [c for c in CASES if c.signs_body]
TIMESTAMPED = [c for c in CASES if c.timestamped]


def ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


def request(headers: Headers, body: bytes = BODY, query: Query = ()) -> InboundRequest:
    return InboundRequest(
        method="POST",
        path="/hooks/in",
        headers=tuple((k.lower(), v) for k, v in headers.items()),
        body=body,
        remote_ip="127.0.0.1",
        query=query,
    )


def signed(case: Case, secret: str | None = None, body: bytes = BODY, ts: int = NOW) -> InboundRequest:
    headers, query = case.sign(secret or case.secrets[0], body, ts)
    return request(headers, body, query)


def rejected(verifier: Verifier, req: InboundRequest, *expected: str) -> str:
    """The reason `req` is refused; it contains each of `expected` and none of the secrets, header
    values (signatures, tokens) or the body."""
    with pytest.raises(VerifyFailed) as caught:
        verifier.verify(req, NOW)
    reason = str(caught.value)
    for part in expected:
        assert part in reason
    leaks = [NEW, OLD, WHSEC_NEW, WHSEC_OLD, "wrong-secret", req.body.decode(errors="replace")]
    leaks += [v for _, v in req.headers if len(v) >= 12] + [v for _, v in req.query if len(v) >= 12]
    for leak in leaks:
        assert not leak or leak not in reason, f"{leak!r} in {reason!r}"
    return reason


# -- every scheme -------------------------------------------------------------------------------------


def test_every_verify_type_has_a_scheme() -> None:
    assert set(SCHEMES) == {"github", "gitlab", "stripe", "slack", "standard", "hmac", "api_key", "basic"}


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_signed_request_is_accepted_and_names_the_newest_secret(case: Case) -> None:
    verdict = build_verifier(case.config).verify(signed(case), NOW)
    assert verdict == Verdict(case.config.type, 0, NOW, NOW if case.timestamped else None)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_the_older_secret_still_verifies_with_index_1(case: Case) -> None:
    """1. Secrets rotate: the sender still signs with the older one. 2. Accepted; the verdict says 1."""
    assert build_verifier(case.config).verify(signed(case, case.secrets[1]), NOW).secret == 1


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_wrong_secret_is_refused(case: Case) -> None:
    wrong = generate_secret() if case.name == "standard" else "wrong-secret"
    # basic says one thing for a wrong user and a wrong password, so a caller learns neither
    expected = "configured password(s)" if case.name == "basic" else "any of the 2 configured secrets"
    rejected(build_verifier(case.config), signed(case, wrong), "match", expected)


@pytest.mark.parametrize("case", BODY_SIGNED, ids=ids(BODY_SIGNED))
def test_tampered_body_is_refused(case: Case) -> None:
    tampered = replace(signed(case), body=BODY.replace(b"4200", b"9200"))
    rejected(build_verifier(case.config), tampered, "match", case.header)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_missing_header_is_refused_naming_it(case: Case) -> None:
    req = signed(case)
    req = replace(
        req,
        headers=tuple((k, v) for k, v in req.headers if k != case.header.lower()),
        query=tuple((k, v) for k, v in req.query if k != case.header),
    )
    rejected(build_verifier(case.config), req, case.header, "is missing")


MALFORMED = [c for c in CASES if c.malformed is not None]


@pytest.mark.parametrize("case", MALFORMED, ids=ids(MALFORMED))
def test_malformed_header_is_refused_saying_so(case: Case) -> None:
    req = signed(case)
    garbled = tuple((k, case.malformed if k == case.header.lower() and case.malformed else v) for k, v in req.headers)
    assert garbled != req.headers
    rejected(build_verifier(case.config), replace(req, headers=garbled), case.header, "is malformed")


@pytest.mark.parametrize("case", TIMESTAMPED, ids=ids(TIMESTAMPED))
def test_stale_timestamp_is_refused_saying_how_old(case: Case) -> None:
    rejected(
        build_verifier(case.config),
        signed(case, ts=NOW - 612),
        case.timestamp_header,
        "is 612 s old, past the tolerance of 300 s",
    )


@pytest.mark.parametrize("case", TIMESTAMPED, ids=ids(TIMESTAMPED))
def test_future_timestamp_beyond_tolerance_is_refused(case: Case) -> None:
    verifier = build_verifier(replace(case.config, tolerance_s=60))
    assert verifier.verify(signed(case, ts=NOW + 59), NOW).timestamp == NOW + 59
    rejected(verifier, signed(case, ts=NOW + 400), "400 s ahead", "tolerance of 60 s")


@pytest.mark.parametrize("case", TIMESTAMPED, ids=ids(TIMESTAMPED))
def test_timestamp_that_is_not_a_number_is_malformed(case: Case) -> None:
    req = signed(case)
    garbled: tuple[tuple[str, str], ...]
    if case.name == "stripe":
        garbled = (("stripe-signature", "t=+12,v1=" + "ab" * 32),)
    else:
        garbled = tuple((k, " 1e9" if k == case.timestamp_header.lower() else v) for k, v in req.headers)
    rejected(build_verifier(case.config), replace(req, headers=garbled), "is malformed", "Unix time")


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_what_each_scheme_keeps_out_of_the_stored_request(case: Case) -> None:
    verifier = build_verifier(case.config)
    assert verifier.scheme == case.config.type
    assert verifier.timestamped == case.timestamped
    assert {"authorization", "cookie"} <= verifier.credential_headers
    shared = {"gitlab": {"x-gitlab-token"}, "api_key-header": {"x-api-key"}}.get(case.name, set())
    assert verifier.credential_headers == {"authorization", "cookie"} | shared
    assert verifier.credential_query == ({"key"} if case.name == "api_key-query" else set())


@pytest.mark.parametrize("case", BODY_SIGNED, ids=ids(BODY_SIGNED))
@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=300), data=st.data())
def test_any_signed_body_verifies_and_no_one_byte_change_does(case: Case, body: bytes, data: st.DataObject) -> None:
    verifier = build_verifier(case.config)
    req = signed(case, body=body)
    assert verifier.verify(req, NOW).secret == 0
    if body:
        at = data.draw(st.integers(0, len(body) - 1))
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]))
        with pytest.raises(VerifyFailed):
            verifier.verify(replace(req, body=body[:at] + bytes([byte]) + body[at + 1 :]), NOW)


# -- one scheme's details -------------------------------------------------------------------------------


def test_basic_with_the_wrong_user_is_refused() -> None:
    case = next(c for c in CASES if c.name == "basic")
    other_user = "Basic " + base64.b64encode(f"intruder:{NEW}".encode()).decode()
    reason = rejected(build_verifier(case.config), request({"Authorization": other_user}), "user name")
    assert "intruder" not in reason
    # A wrong password with the right user reads the same: the caller learns not which one was right.
    right_user = "Basic " + base64.b64encode(f"{case.config.username}:not-it".encode()).decode()
    assert rejected(build_verifier(case.config), request({"Authorization": right_user}), "user name") == reason
    # Without `username`, any user with a right password is accepted.
    anyone = build_verifier(replace(case.config, username=None))
    assert anyone.verify(request({"Authorization": other_user}), NOW).secret == 0


def test_basic_credentials_that_are_not_base64_or_lack_a_colon_are_malformed() -> None:
    verifier = build_verifier(config(type="basic"))
    no_colon = "Basic " + base64.b64encode(NEW.encode()).decode()
    for value in ("Basic %%%", no_colon, "Basic " + base64.b64encode(b"\xff:\xfe").decode()):
        rejected(verifier, request({"Authorization": value}), "Authorization is malformed")


def test_stripe_accepts_any_of_several_v1_signatures() -> None:
    """1. Stripe rolls the endpoint's secret: the header carries a v1 per secret (and a v0). 2. One v1
    made with the configured older secret is enough."""
    content = f"{NOW}.".encode() + BODY
    header = f"t={NOW},v1={hex_hmac('unknown', content)},v1={hex_hmac(OLD, content)},v0={'00' * 32}"
    verdict = build_verifier(config(type="stripe")).verify(request({"Stripe-Signature": header}), NOW)
    assert verdict.as_json() == {"scheme": "stripe", "secret": 1, "verified_at": NOW, "timestamp": NOW}


def test_stripe_header_without_a_v1_signature_is_malformed() -> None:
    header = f"t={NOW},v0={hex_hmac(NEW, f'{NOW}.'.encode() + BODY)}"
    rejected(build_verifier(config(type="stripe")), request({"Stripe-Signature": header}), "is malformed", "v1=")


def test_github_hex_is_read_in_either_case() -> None:
    signature = "sha256=" + hex_hmac(NEW, BODY).upper()
    assert build_verifier(config(type="github")).verify(request({"X-Hub-Signature-256": signature}), NOW).secret == 0


def test_standard_public_key_verifies_v1a_ed25519() -> None:
    """1. A sender signs with an Ed25519 key (v1a) only, beside entries hookd skips (another version, a
    v1 that is not base64). 2. A receiver with its whpk_ public key accepts, verdict secret -1; a
    receiver with another key refuses."""
    private = ed25519.Ed25519PrivateKey.generate()
    content = f"msg_1.{NOW}.".encode() + BODY
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": "v2,c29tZQ== v1,not-base64 v1a," + base64.b64encode(private.sign(content)).decode(),
    }
    verifier = build_verifier(VerifyConfig(type="standard", public_key=public_key_text(private)))
    assert verifier.verify(request(headers), NOW).secret == -1
    stranger = build_verifier(
        VerifyConfig(type="standard", public_key=public_key_text(ed25519.Ed25519PrivateKey.generate()))
    )
    rejected(stranger, request(headers), "no signature in webhook-signature matches the public key")


def test_one_hookd_verifies_what_another_signs() -> None:
    """1. A hook signs with `signing: {type: standard}` (two secrets and a key). 2. A receiver with only
    the older secret, or only the public key, accepts it."""
    private_pem, public = generate_key_pair()
    signer = StandardSigner([standard_key(WHSEC_NEW), standard_key(WHSEC_OLD)], load_private_key(private_pem))
    signature = signer.sign("01JD", str(NOW), BODY)
    headers = {"webhook-id": "01JD", "webhook-timestamp": str(NOW), "webhook-signature": signature}
    old_only = build_verifier(VerifyConfig(type="standard", secrets=(generate_secret(), WHSEC_OLD)))
    assert old_only.verify(request(headers), NOW).secret == 1
    key_only = build_verifier(VerifyConfig(type="standard", public_key=public))
    assert key_only.verify(request(headers), NOW).secret == -1


def test_hmac_without_a_timestamp_header_is_not_timestamped() -> None:
    verifier = build_verifier(config(type="hmac", header="X-Sig", prefix="sha256="))
    assert not verifier.timestamped
    verdict = verifier.verify(request({"X-Sig": "sha256=" + hex_hmac(NEW, BODY)}), NOW)
    assert verdict.timestamp is None
    rejected(verifier, request({"X-Sig": hex_hmac(NEW, BODY)}), "X-Sig is malformed", "'sha256=' followed by")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"type": "hmac"}, "has no header"),
        ({"type": "hmac", "header": "X-Sig", "content": "{timestamp}.{body}"}, "add timestamp_header"),
        ({"type": "hmac", "header": "X-Sig", "content": "{id}.{body}"}, "add id_header"),
        ({"type": "api_key", "header": "X-Key", "query": "key"}, "exactly one of header: and query:"),
        ({"type": "api_key"}, "exactly one of header: and query:"),
        ({"type": "github", "secrets": ()}, "has no secrets"),
        ({"type": "standard", "secrets": ()}, "neither secrets nor public_key"),
        ({"type": "standard", "secrets": (NEW,)}, "does not start with whsec_"),
        ({"type": "standard", "secrets": (), "public_key": "whpk_abc"}, "base64 of 32 bytes"),
    ],
)
def test_a_config_validate_refuses_cannot_be_built(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        build_verifier(replace(config(type="github"), **fields))  # type: ignore[arg-type]
    assert NEW not in str(caught.value)


def test_hmac_timestamp_outside_the_signed_content_is_checked_but_not_replay_protection() -> None:
    """1. timestamp_header is set but content is {body} only. 2. The tolerance still applies, but the
    scheme does not count as timestamped (anyone could rewrite an unsigned timestamp), so the source
    relies on an id, and the verdict records no signed timestamp."""
    verifier = build_verifier(config(type="hmac", header="X-Sig", timestamp_header="X-Time"))
    assert not verifier.timestamped
    fresh = request({"X-Sig": hex_hmac(NEW, BODY), "X-Time": str(NOW - 10)})
    assert verifier.verify(fresh, NOW).timestamp is None
    rejected(verifier, request({"X-Sig": hex_hmac(NEW, BODY), "X-Time": str(NOW - 612)}), "612 s old")
