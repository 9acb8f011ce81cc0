"""Signing and verification of certificates: algorithms, keys, trust list, tokens, checks."""
