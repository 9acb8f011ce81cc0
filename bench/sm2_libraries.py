"""Benchmark: the SM2 libraries on PyPI, side by side, to choose the one certify signs with.

    python3 bench/sm2_libraries.py [--seconds 1.0] [--rounds 5]

Each candidate signs (SM2 with SM3 and the default signer ID ``1234567812345678``) and verifies
the same 200-byte message with one key loaded once, in one thread. Rounds are interleaved —
every library measured once per round — so a busy machine slows them alike; the figures are
medians. Baseline in the same process: Ed25519 (``cryptography``), what certify signs with today.

Candidates (a missing one is reported, not fatal): ``tongsuopy`` (Tongsuo 8.3, the OpenSSL fork
certify signs with, DER signatures), ``gmssl-pyx`` (GmSSL 3 in C, DER signatures), ``gmssl-fast``
(GmSSL statically linked, raw r‖s), ``gmssl`` (pure Python). Before timing, each candidate's
signature must verify under every other one: the figures are of libraries that agree. Then the
two fastest C candidates verify in two threads at once (``*_verify_2_threads_per_s``): a library
that releases the GIL doubles on two CPUs, one that holds it does not.

Prints one line per figure, then LAST one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MESSAGE = os.urandom(200)
"""About the size of a token's COSE Sig_structure."""


@dataclass
class Candidate:
    name: str
    sign: Callable[[], bytes]
    verify_raw: Callable[[bytes], bool]
    """Verify a raw r‖s signature of MESSAGE (conversion to the library's format included)."""


def _raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def _sm3(data: bytes) -> bytes:
    hasher = hashes.Hash(hashes.SM3())
    hasher.update(data)
    return hasher.finalize()


def _e(public: bytes, message: bytes) -> bytes:
    """e = SM3(Z_A ‖ M) with the default signer ID (GB/T 32918.2 §5.5, §6.1)."""
    a = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
    b = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
    gx = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
    gy = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
    identity = b"1234567812345678"
    fields = b"".join(v.to_bytes(32, "big") for v in (a, b, gx, gy))
    z = _sm3((len(identity) * 8).to_bytes(2, "big") + identity + fields + public)
    return _sm3(z + message)


def candidates(private: bytes, public: bytes) -> tuple[list[Candidate], list[str]]:
    """The libraries that import, each over the same key pair; and those that do not."""
    found: list[Candidate] = []
    missing: list[str] = []
    try:
        from tongsuopy.crypto import hashes as tongsuo_hashes
        from tongsuopy.crypto.asymciphers import ec

        with_sm3 = ec.ECDSA(tongsuo_hashes.SM3())
        t_private = ec.derive_private_key(int.from_bytes(private, "big"), ec.SM2())
        t_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), b"\x04" + public)

        def tongsuo_verify(sig: bytes) -> bool:
            try:
                t_public.verify(_der(sig), MESSAGE, with_sm3)
            except Exception:
                return False
            return True

        found.append(
            Candidate("tongsuopy", lambda: _raw(t_private.sign(MESSAGE, with_sm3)), tongsuo_verify)
        )
    except ImportError:
        missing.append("tongsuopy")
    try:
        import gmssl_pyx

        found.append(
            Candidate(
                "gmssl-pyx",
                lambda: _raw(gmssl_pyx.sm2_sign(private, public, MESSAGE)),
                lambda sig: bool(gmssl_pyx.sm2_verify(public, MESSAGE, _der(sig))),
            )
        )
        e = _e(public, MESSAGE)  # its digest API: the caller hashes Z_A ‖ M once
        found.append(
            Candidate(
                "gmssl-pyx (digest API)",
                lambda: _raw(gmssl_pyx.sm2_sign_sm3_digest(private, _e(public, MESSAGE))),
                lambda sig: bool(gmssl_pyx.sm2_verify_sm3_digest(public, e, _der(sig))),
            )
        )
    except ImportError:
        missing.append("gmssl-pyx")
    try:
        import gmssl_fast

        signer = gmssl_fast.SM2(private.hex(), "04" + public.hex())
        verifier = gmssl_fast.SM2(public_key="04" + public.hex())
        found.append(
            Candidate(
                "gmssl-fast",
                lambda: signer.sign(MESSAGE),
                lambda sig: verifier.verify(MESSAGE, sig),
            )
        )
    except ImportError:
        missing.append("gmssl-fast")
    try:
        from gmssl import func, sm2

        crypt = sm2.CryptSM2(private_key=private.hex(), public_key=public.hex(), mode=1)
        found.append(
            Candidate(
                "gmssl (pure Python)",
                lambda: bytes.fromhex(
                    crypt.sign_with_sm3(MESSAGE, func.random_hex(crypt.para_len))
                ),
                lambda sig: bool(crypt.verify_with_sm3(sig.hex(), MESSAGE)),
            )
        )
    except ImportError:
        missing.append("gmssl")
    return found, missing


def per_second(fn: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(10):
            fn()
        count += 10
    return count / elapsed


def two_threads(fn: Callable[[], object], seconds: float) -> float:
    """Operations per second of ``fn`` run in two threads at once."""
    with ThreadPoolExecutor(2) as pool:
        return sum(pool.map(lambda _: per_second(fn, seconds), range(2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per figure per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from certify.signing import sm2  # the key pair comes from certify; every candidate takes it

    private, public = sm2.generate()
    found, missing = candidates(private, public)
    agree = all(b.verify_raw(a.sign()) for a in found for b in found)

    ed_key = Ed25519PrivateKey.generate()
    ed_public, ed_signature = ed_key.public_key(), ed_key.sign(MESSAGE)
    timed: dict[str, Callable[[], object]] = {
        "ed25519_sign": lambda: ed_key.sign(MESSAGE),
        "ed25519_verify": lambda: ed_public.verify(ed_signature, MESSAGE),
    }
    for c in found:
        signature = c.sign()
        timed[f"{c.name} sign"] = c.sign
        timed[f"{c.name} verify"] = partial(c.verify_raw, signature)
    samples: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(args.rounds):
        for name, fn in timed.items():
            samples[name].append(per_second(fn, args.seconds))
    threaded = {}
    for c in found:
        if c.name in ("tongsuopy", "gmssl-pyx"):
            signature = c.sign()
            threaded[f"{c.name} verify 2 threads"] = two_threads(
                partial(c.verify_raw, signature), args.seconds * args.rounds
            )
    samples.update({name: [rate] for name, rate in threaded.items()})
    figures: dict[str, object] = {
        name.replace(" (pure Python)", "").replace(" ", "_") + "_per_s": statistics.median(v)
        for name, v in samples.items()
    }
    figures.update(
        cross_verified=agree,
        missing=missing,
        rounds=args.rounds,
        load_average=os.getloadavg()[0],
    )
    for name, values in samples.items():
        print(f"{name:28s} {statistics.median(values):>10,.0f} /s")
    print("every candidate verifies every other's signature:", "yes" if agree else "NO")
    if missing:
        print("not installed:", ", ".join(missing))
    print(json.dumps(figures, sort_keys=True))
    if not agree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
