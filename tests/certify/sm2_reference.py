"""An SM2 signature written from GB/T 32918.2-2016 §6–7 for the tests alone, over any curve of
the form y² = x³ + ax + b (mod p), with SM3 from the pure-Python ``gmssl`` package: slow,
simple, and sharing no code with certify or GmSSL, so that each can be held against the other
and against the standard's worked examples."""

from __future__ import annotations

from dataclasses import dataclass

from gmssl import func, sm3


def sm3_hash(data: bytes) -> bytes:
    return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(data)))


@dataclass(frozen=True)
class Curve:
    p: int
    a: int
    b: int
    n: int
    gx: int
    gy: int

    def add(self, P: tuple[int, int] | None, Q: tuple[int, int] | None) -> tuple[int, int] | None:
        """Point addition in affine coordinates (None is the point at infinity)."""
        if P is None:
            return Q
        if Q is None:
            return P
        (x1, y1), (x2, y2) = P, Q
        if x1 == x2 and (y1 + y2) % self.p == 0:
            return None
        if P == Q:
            slope = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, self.p)
        else:
            slope = (y2 - y1) * pow(x2 - x1, -1, self.p)
        x3 = (slope * slope - x1 - x2) % self.p
        return x3, (slope * (x1 - x3) - y1) % self.p

    def mul(self, k: int, P: tuple[int, int] | None) -> tuple[int, int] | None:
        result = None
        while k:
            if k & 1:
                result = self.add(result, P)
            P = self.add(P, P)
            k >>= 1
        return result

    @property
    def g(self) -> tuple[int, int]:
        return self.gx, self.gy

    def public(self, d: int) -> tuple[int, int]:
        point = self.mul(d, self.g)
        assert point is not None
        return point

    def z(self, identity: bytes, public: tuple[int, int]) -> bytes:
        """Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) (§5.5)."""
        size = (self.p.bit_length() + 7) // 8
        values = (self.a, self.b, self.gx, self.gy, *public)
        return sm3_hash(
            (len(identity) * 8).to_bytes(2, "big")
            + identity
            + b"".join(v.to_bytes(size, "big") for v in values)
        )

    def e(self, identity: bytes, public: tuple[int, int], message: bytes) -> int:
        return int.from_bytes(sm3_hash(self.z(identity, public) + message), "big")

    def sign(self, d: int, identity: bytes, message: bytes, k: int) -> tuple[int, int]:
        """(r, s) with the given k (§6.1 A1–A7)."""
        e = self.e(identity, self.public(d), message)
        x1, _ = self.public(k)
        r = (e + x1) % self.n
        s = (pow(1 + d, -1, self.n) * (k - r * d)) % self.n
        return r, s

    def verify(
        self, public: tuple[int, int], identity: bytes, message: bytes, r: int, s: int
    ) -> bool:
        """§7.1 B1–B7."""
        if not (0 < r < self.n and 0 < s < self.n):
            return False
        t = (r + s) % self.n
        if t == 0:
            return False
        point = self.add(self.mul(s, self.g), self.mul(t, public))
        if point is None:
            return False
        return (self.e(identity, public, message) + point[0]) % self.n == r


RECOMMENDED = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)
"""The recommended curve of GB/T 32918.5-2017, typed in again from the standard."""
