"""The EHR's JWT, checked as CDS Hooks 2.0 asks — with real RS384 and ES384 keys generated here."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from taperwise.web.cds_auth import CdsAuthError, CdsTokenValidator, load_issuers

EHR = "https://ehr.example.org"
SERVICE = "https://taperwise.example.org/cds-services/order-sign"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rs": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP384R1()),
    }


def _jwk(private: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS384" else jwt.algorithms.ECAlgorithm
    public = json.loads(algorithm.to_jwk(private.public_key()))
    return public | {"kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture
def issuers_file(tmp_path: Path, keys: dict[str, Any]) -> Path:
    (tmp_path / "ehr.jwks").write_text(
        json.dumps({"keys": [_jwk(keys["rs"], "rs-1", "RS384"), _jwk(keys["ec"], "ec-1", "ES384")]})
    )
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [{"iss": EHR, "jwks_file": "ehr.jwks"}]}))
    return path


def _token(private: Any, alg: str = "RS384", kid: str = "rs-1", **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": EHR, "aud": SERVICE, "iat": now, "exp": now + 240, "jti": str(uuid.uuid4())}
    claims.update(changes)
    claims = {key: value for key, value in claims.items() if value is not None}
    return jwt.encode(claims, private, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def _validator(path: Path) -> CdsTokenValidator:
    return CdsTokenValidator(load_issuers(path))


def test_a_token_signed_with_the_ehrs_rs384_or_es384_key_is_accepted(
    issuers_file: Path, keys: dict[str, Any]
) -> None:
    validator = _validator(issuers_file)
    assert validator.validate(f"Bearer {_token(keys['rs'])}", SERVICE)["iss"] == EHR
    assert validator.validate(f"Bearer {_token(keys['ec'], 'ES384', 'ec-1')}", SERVICE)["aud"] == SERVICE


def _refused(validator: CdsTokenValidator, token: str, reason: str) -> None:
    with pytest.raises(CdsAuthError, match=reason):
        validator.validate(f"Bearer {token}", SERVICE)


def test_alg_none_is_refused(issuers_file: Path) -> None:
    now = int(time.time())
    unsigned = jwt.encode(
        {"iss": EHR, "aud": SERVICE, "iat": now, "exp": now + 60, "jti": "x"},
        None,
        algorithm="none",
        headers={"kid": "rs-1"},
    )
    _refused(_validator(issuers_file), unsigned, "algorithm 'none' refused")


def test_an_hmac_token_keyed_with_the_public_key_is_refused(issuers_file: Path, keys: dict[str, Any]) -> None:
    # The algorithm-confusion forgery: "sign" with HS384 using the public key an attacker can read (made by
    # hand: PyJWT itself refuses to use a public key as an HMAC secret).
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    secret = (
        keys["rs"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    signing = (
        b64(json.dumps({"alg": "HS384", "kid": "rs-1", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps({"iss": EHR, "aud": SERVICE, "iat": now, "exp": now + 60, "jti": "y"}).encode())
    )
    forged = signing + "." + b64(hmac.new(secret, signing.encode(), hashlib.sha384).digest())
    _refused(_validator(issuers_file), forged, "algorithm 'HS384' refused")


def test_a_wrong_audience_is_refused(issuers_file: Path, keys: dict[str, Any]) -> None:
    _refused(
        _validator(issuers_file),
        _token(keys["rs"], aud="https://other.example/cds-services/x"),
        "another audience",
    )


def test_an_expired_token_is_refused(issuers_file: Path, keys: dict[str, Any]) -> None:
    past = int(time.time()) - 600
    _refused(_validator(issuers_file), _token(keys["rs"], iat=past, exp=past + 240), "has expired")


def test_a_replayed_jti_is_refused(issuers_file: Path, keys: dict[str, Any]) -> None:
    validator = _validator(issuers_file)
    token = _token(keys["rs"], jti="once-only")
    validator.validate(f"Bearer {token}", SERVICE)
    _refused(validator, token, "used before: a replay")


def test_an_untrusted_issuer_an_unknown_key_and_a_bad_signature_are_refused(
    issuers_file: Path, keys: dict[str, Any]
) -> None:
    validator = _validator(issuers_file)
    _refused(validator, _token(keys["rs"], iss="https://attacker.example"), "is not trusted")
    _refused(validator, _token(keys["rs"], kid="rs-9"), "has no key 'rs-9'")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _refused(validator, _token(stranger), "does not verify")
    _refused(validator, _token(keys["ec"], "ES384", "rs-1"), "is for RS384, not ES384")


def test_missing_claims_and_long_lived_tokens_are_refused(issuers_file: Path, keys: dict[str, Any]) -> None:
    validator = _validator(issuers_file)
    _refused(validator, _token(keys["rs"], jti=None), "no 'jti' claim")
    now = int(time.time())
    _refused(validator, _token(keys["rs"], iat=now, exp=now + 3600), "longer than five minutes")


def test_no_bearer_token_or_garbage_is_refused(issuers_file: Path) -> None:
    validator = _validator(issuers_file)
    with pytest.raises(CdsAuthError, match="missing bearer token"):
        validator.validate(None, SERVICE)
    with pytest.raises(CdsAuthError, match="not a JWT"):
        validator.validate("Bearer not.a.jwt", SERVICE)


def test_an_issuers_file_with_a_private_key_or_no_kid_is_refused(
    tmp_path: Path, keys: dict[str, Any]
) -> None:
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["rs"])) | {"kid": "k"}
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [{"iss": EHR, "jwks": {"keys": [private]}}]}))
    with pytest.raises(CdsAuthError, match="lists a private key"):
        load_issuers(path)
    path.write_text(
        json.dumps(
            {"issuers": [{"iss": EHR, "jwks": {"keys": [_jwk(keys["rs"], "k", "RS384") | {"kid": None}]}}]}
        )
    )
    with pytest.raises(CdsAuthError):
        load_issuers(path)
    path.write_text("{not json")
    with pytest.raises(CdsAuthError, match="not a usable list"):
        load_issuers(path)
