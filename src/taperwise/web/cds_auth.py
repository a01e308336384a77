"""Trusting the EHR that calls a CDS Hooks service: the bearer JWT, checked as CDS Hooks 2.0 asks.

The EHR signs a short-lived JWT with its private key for every call: header `alg` ES384 or RS384 and the
`kid` of the key, payload `iss` (who the EHR is), `aud` (the service URL being called), `exp`, `iat` and a
`jti` nonce. This service trusts only issuers configured in advance, each with its JWK Set (a file: keys
are never fetched from a `jku` or any URL at run time). A token is refused, naming why, when it:
- is not a JWT, or its algorithm is not ES384 or RS384 (`none`, and HS* "signed" with a public key, are
  the classic forgeries);
- comes from an issuer not configured, or names a key its issuer does not have;
- does not verify with that key;
- is for another audience, has expired, was issued in the future, or lives longer than five minutes;
- has no `jti`, or repeats one seen before its expiry (a replay).

`--cds-no-auth` (development only) skips all of this; `taperwise serve` logs a loud warning then.
Replays are remembered per process, until each token's expiry: run one process per service, or a shared
store when scaling out (docs/decisions/0019).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from taperwise.errors import TaperwiseError

ALGORITHMS = ("ES384", "RS384")
MAX_LIFETIME_SECONDS = 300  # CDS Hooks: the JWT expires within five minutes of being issued
LEEWAY_SECONDS = 30  # clock skew between the EHR and this service


class CdsAuthError(TaperwiseError):
    """The call is refused; the message says why (it is safe to return: it names no secret)."""


@dataclass(frozen=True)
class Issuer:
    iss: str
    keys: Mapping[str, jwt.PyJWK]  # by kid
    # The taperwise organisation (its code) whose patients this EHR's calls are about: the store's
    # plans and reviews are looked up there. None: cards from the call's own data only.
    organisation: str | None = None


@dataclass
class ReplayGuard:
    """The `jti`s seen, each kept until its token's expiry (thread-safe; one process)."""

    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_use(self, iss: str, jti: str, expires: float, now: float) -> bool:
        with self.lock:
            for key in [key for key, until in self.seen.items() if until < now]:
                del self.seen[key]
            if (iss, jti) in self.seen:
                return False
            self.seen[(iss, jti)] = expires
            return True


def load_issuers(path: Path) -> dict[str, Issuer]:
    """Trusted issuers from a JSON file: `{"issuers": [{"iss": …, "jwks": {…}}]}`, or `"jwks_file": …`,
    each with an optional `"organisation"` (a taperwise organisation code).

    A `jwks_file` is read relative to the file. Raises CdsAuthError naming the file and the problem."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        issuers = {}
        for entry in raw["issuers"]:
            jwks = entry.get("jwks")
            if jwks is None:
                jwks = json.loads((path.parent / entry["jwks_file"]).read_text(encoding="utf-8"))
            keys = {}
            for key in jwks["keys"]:
                if not isinstance(key.get("kid"), str) or not key["kid"]:
                    raise CdsAuthError(f"{path}: a key of issuer {entry['iss']!r} has no kid")
                if any(part in key for part in ("d", "p", "q")):
                    raise CdsAuthError(
                        f"{path}: issuer {entry['iss']!r} lists a private key; give public keys only"
                    )
                keys[str(key["kid"])] = jwt.PyJWK(key)
            organisation = entry.get("organisation")
            if organisation is not None and not isinstance(organisation, str):
                raise CdsAuthError(f"{path}: issuer {entry['iss']!r}: organisation must be a code (text)")
            issuers[str(entry["iss"])] = Issuer(str(entry["iss"]), keys, organisation)
    except CdsAuthError:
        raise
    except (OSError, ValueError, KeyError, TypeError, jwt.PyJWKError) as exc:
        raise CdsAuthError(f"{path}: not a usable list of trusted CDS Hooks issuers ({exc})") from exc
    if not issuers:
        raise CdsAuthError(f"{path}: lists no issuer")
    return issuers


@dataclass
class CdsTokenValidator:
    issuers: Mapping[str, Issuer]
    replays: ReplayGuard = field(default_factory=ReplayGuard)
    clock: Callable[[], float] = time.time

    def validate(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The token's claims when `authorization` ("Bearer <JWT>") is a valid call to `audience`."""
        if not authorization or not authorization.startswith("Bearer "):
            raise CdsAuthError("missing bearer token: CDS Hooks calls carry a JWT signed by the EHR")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise CdsAuthError(f"not a JWT ({exc})") from exc
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise CdsAuthError(f"algorithm {str(algorithm)[:20]!r} refused: ES384 or RS384 only")
        issuer = self.issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise CdsAuthError(f"issuer {str(unverified.get('iss'))[:100]!r} is not trusted by this service")
        key = issuer.keys.get(str(header.get("kid")))
        if key is None:
            raise CdsAuthError(f"issuer {issuer.iss!r} has no key {str(header.get('kid'))[:60]!r}")
        if key.algorithm_name is not None and key.algorithm_name != algorithm:
            raise CdsAuthError(f"key {header.get('kid')!r} is for {key.algorithm_name}, not {algorithm}")
        now = self.clock()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer.iss,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise CdsAuthError("the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise CdsAuthError(f"the token is for another audience, not {audience}") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise CdsAuthError(f"the token has no {exc.claim!r} claim") from exc
        except jwt.ImmatureSignatureError as exc:
            raise CdsAuthError("the token was issued in the future") from exc
        except jwt.PyJWTError as exc:
            raise CdsAuthError(f"the token does not verify ({exc})") from exc
        iat, exp = float(claims["iat"]), float(claims["exp"])
        if iat > now + LEEWAY_SECONDS:
            raise CdsAuthError("the token was issued in the future")
        if exp - iat > MAX_LIFETIME_SECONDS:
            raise CdsAuthError("the token lives longer than five minutes")
        if not self.replays.first_use(issuer.iss, str(claims["jti"]), exp + LEEWAY_SECONDS, now):
            raise CdsAuthError("the token's jti was used before: a replay")
        return claims
