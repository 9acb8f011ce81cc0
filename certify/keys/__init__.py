"""签名密钥: the provincial root's and each institution's signing keys, their private halves
encrypted at rest, rotation, and the root-signed trust list built from them (the trust list's
format and its verification are :mod:`certify.signing.trust`)."""
