"""QR symbols for certificates: the ``qrcode`` library's encoding, with the mask chosen in numpy.

A QR encoder must try the eight mask patterns and keep the one with the lowest penalty (ISO/IEC
18004 §7.8.3: runs, 2×2 blocks, finder-like patterns, dark balance). The ``qrcode`` library does
this by laying out the whole symbol eight times in Python and scoring each layout module by
module, which is 85 % of the ≈10 ms it takes for a version-9 symbol; most of the rest is its
bit buffer (a Python call per bit) and its Reed–Solomon polynomial arithmetic.

:func:`qr_modules` keeps ``qrcode`` for what is about the content (segmenting the data into
modes, the tables of versions, blocks, generator polynomials, format and version information)
and does the work in bulk: the bit stream is built as one integer, the error-correction
codewords of a block as one product of bit vectors (Reed–Solomon is linear over GF(2); the
matrix is made once per block shape), and per version it remembers the function patterns and the order
the data modules are filled in, then places the codewords once, applies all eight masks at once
in numpy and scores them together. The scores are ``qrcode``'s own (its
``util.lost_point``, which scores the symbol with the format and version areas blank), and ties
go to the lowest mask number as in ``qrcode`` — so the symbol is module for module the one
``qrcode`` makes; a test holds the two to that over many URLs.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import cache

import numpy as np
import qrcode
from numpy.typing import NDArray
from qrcode import LUT, base, util
from qrcode.constants import ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError

Grid = NDArray[np.bool_]

_FINDER_LIKE = (
    int("10111010000", 2),  # dark-light-dark×3-light-dark, then four light modules
    int("00001011101", 2),  # four light modules, then the same pattern
)


def mask_patterns(size: int) -> Grid:
    """The eight data masks of ISO/IEC 18004 Table 10 over a ``size`` × ``size`` symbol; shape
    (8, size, size), True where the mask inverts a module."""
    i, j = np.indices((size, size))
    product = i * j
    return np.stack(
        [
            (i + j) % 2 == 0,
            i % 2 == 0,
            j % 3 == 0,
            (i + j) % 3 == 0,
            (i // 2 + j // 3) % 2 == 0,
            product % 2 + product % 3 == 0,
            (product % 2 + product % 3) % 2 == 0,
            (product % 3 + (i + j) % 2) % 2 == 0,
        ]
    )


class _Layout:
    """What every symbol of one version and error-correction level shares."""

    def __init__(self, version: int, error_correction: int) -> None:
        probe = qrcode.QRCode(version=version, error_correction=error_correction, border=0)
        size = probe.modules_count = version * 4 + 17
        probe.modules = [[None] * size for _ in range(size)]
        probe.setup_position_probe_pattern(0, 0)
        probe.setup_position_probe_pattern(size - 7, 0)
        probe.setup_position_probe_pattern(0, size - 7)
        probe.setup_position_adjust_pattern()
        probe.setup_timing_pattern()
        probe.setup_type_info(True, 0)  # reserves the format areas (blank while scoring)
        if version >= 7:
            probe.setup_type_number(True)
        self.size = size
        free = np.array([[m is None for m in row] for row in probe.modules])
        self.blank = np.array([[bool(m) for m in row] for row in probe.modules])
        self.rows, self.cols = self._placement(free)
        masks = mask_patterns(size)
        self.masks = masks[:, self.rows, self.cols]  # (8, data modules)
        # Format information per mask, and version information: what ``qrcode`` writes once the
        # mask is chosen.
        self.info: list[tuple[NDArray[np.intp], NDArray[np.intp], Grid]] = []
        for pattern in range(8):
            probe.modules = [[None] * size for _ in range(size)]
            probe.setup_type_info(False, pattern)
            if version >= 7:
                probe.setup_type_number(False)
            written = np.array([[m is not None for m in row] for row in probe.modules])
            where = np.nonzero(written)
            values = np.array([[bool(m) for m in row] for row in probe.modules])[where]
            self.info.append((where[0], where[1], values))

    @staticmethod
    def _placement(free: Grid) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """The data modules in the order codeword bits fill them: two-column strips from the
        right, up and down in turn, skipping the vertical timing pattern (§7.7.3)."""
        size = len(free)
        rows: list[int] = []
        cols: list[int] = []
        upward = True
        col = size - 1
        while col > 0:
            if col == 6:
                col -= 1
            for row in range(size - 1, -1, -1) if upward else range(size):
                for c in (col, col - 1):
                    if free[row, c]:
                        rows.append(row)
                        cols.append(c)
            upward = not upward
            col -= 2
        return np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)


@cache
def _layout(version: int, error_correction: int) -> _Layout:
    return _Layout(version, error_correction)


def penalties(symbols: Grid) -> list[int]:
    """``qrcode``'s penalty (``util.lost_point``) of each symbol in a stack (k, n, n)."""
    count, size, _ = symbols.shape
    lines = np.concatenate([symbols, symbols.transpose(0, 2, 1)], axis=1)  # rows, then columns
    # N1: each run of five or more modules of one colour scores its length − 2.
    flat = lines.reshape(-1, size)
    edges = np.ones((flat.shape[0], size + 1), dtype=bool)
    edges[:, 1:size] = flat[:, 1:] != flat[:, :-1]
    starts = np.flatnonzero(edges)
    lengths = np.diff(starts)
    long = lengths >= 5
    owner = (starts[:-1][long] // (size + 1)) // (2 * size)
    runs = np.bincount(owner, weights=lengths[long] - 2, minlength=count)
    # N2: each 2×2 block of one colour scores 3.
    corner = symbols[:, :-1, :-1]
    blocks = (
        (corner == symbols[:, 1:, :-1])
        & (corner == symbols[:, :-1, 1:])
        & (corner == symbols[:, 1:, 1:])
    ).sum(axis=(1, 2)) * 3
    # N3: each 1:1:3:1:1 finder-like pattern beside four light modules scores 40.
    # Each window of eleven modules read as an 11-bit number, built by eleven shifted adds
    # (cheaper than a product with the weights over a sliding view).
    span = size - 10
    windows = np.zeros((count, 2 * size, span), dtype=np.int16)
    for k in range(11):
        windows |= lines[:, :, k : k + span].astype(np.int16) << (10 - k)
    finders = ((windows == _FINDER_LIKE[0]) | (windows == _FINDER_LIKE[1])).sum(axis=(1, 2)) * 40
    # N4: 10 for every full 5 % the dark share departs from one half.
    dark = symbols.sum(axis=(1, 2))
    return [
        int(runs[k])
        + int(blocks[k])
        + int(finders[k])
        + int(abs(float(dark[k]) / size**2 * 100 - 50) / 5) * 10
        for k in range(count)
    ]


def _segment_bits(segment: util.QRData) -> list[tuple[int, int]]:
    """The data bits of one segment as (value, width) pairs (ISO/IEC 18004 §7.4.3–7.4.5)."""
    data = segment.data
    if segment.mode == util.MODE_NUMBER:
        return [
            (int(data[i : i + 3]), util.NUMBER_LENGTH[len(data[i : i + 3])])
            for i in range(0, len(data), 3)
        ]
    if segment.mode == util.MODE_ALPHA_NUM:
        values = [util.ALPHA_NUM.index(c) for c in data]
        pairs = [(a * 45 + b, 11) for a, b in zip(values[::2], values[1::2], strict=False)]
        return pairs + ([(values[-1], 6)] if len(values) % 2 else [])
    return [(byte, 8) for byte in data]


def _version(segments: list[list[tuple[int, int]]], modes: list[int], ec: int) -> int:
    """The smallest version the segments fit (the count fields widen with the version)."""
    payload = sum(width for bits in segments for _, width in bits)
    version = 1
    while True:
        sizes = util.mode_sizes_for_version(version)
        needed = payload + sum(4 + sizes[mode] for mode in modes)
        version = bisect_left(util.BIT_LIMIT_TABLE[ec], needed, version)
        if version > 40:
            raise DataOverflowError(f"{needed} bits do not fit any QR version")
        if util.mode_sizes_for_version(version) is sizes:
            return version


@cache
def _generator_logs(count: int) -> tuple[int, ...]:
    """Logarithms of the generator polynomial's coefficients after the leading 1."""
    if count in LUT.rsPoly_LUT:
        poly = list(LUT.rsPoly_LUT[count])
    else:
        product = base.Polynomial([1], 0)
        for i in range(count):
            product = product * base.Polynomial([1, base.gexp(i)], 0)
        poly = [product[i] for i in range(len(product))]
    return tuple(base.LOG_TABLE[c] for c in poly[1:])


def _error_correction_one(block: list[int], count: int) -> list[int]:
    """Reed–Solomon: the remainder of block · x^count divided by the generator polynomial,
    byte by byte (used to build :func:`_remainder_map`; the test's reference)."""
    logs = _generator_logs(count)
    exp = base.EXP_TABLE
    log = base.LOG_TABLE
    remainder = [0] * count
    for byte in block:
        factor = byte ^ remainder[0]
        remainder = remainder[1:]
        remainder.append(0)
        if factor:
            shift = log[factor]
            for i, g in enumerate(logs):
                remainder[i] ^= exp[(g + shift) % 255]
    return remainder


@cache
def _remainder_map(length: int, count: int) -> NDArray[np.uint8]:
    """The Reed–Solomon remainder as a linear map over GF(2): the remainder is linear in the
    block (addition in GF(256) is XOR), so the remainder's bits are the block's bits times
    this (8·length × 8·count) 0/1 matrix, modulo 2. Row i is the remainder of the block whose
    only set bit is bit i."""
    rows = np.zeros((8 * length, 8 * count), dtype=np.uint8)
    for i in range(8 * length):
        unit = [0] * length
        unit[i // 8] = 0x80 >> (i % 8)
        remainder = np.array(_error_correction_one(unit, count), dtype=np.uint8)
        rows[i] = np.unpackbits(remainder)
    return rows


def _error_correction(block: list[int], count: int) -> list[int]:
    """Reed–Solomon: the remainder of block · x^count divided by the generator polynomial, as
    one product of bit vectors (:func:`_remainder_map`)."""
    bits = np.unpackbits(np.array(block, dtype=np.uint8)).astype(np.int32)
    product = bits @ _remainder_map(len(block), count) & 1
    return np.packbits(product.astype(np.uint8)).tolist()


def codewords(data: str, error_correction: int = ERROR_CORRECT_M) -> tuple[int, bytes]:
    """The version and the final codeword sequence (data and error correction, interleaved by
    block) of ``data``, as ``qrcode`` encodes it."""
    chunks = list(util.optimal_data_chunks(data.encode("utf-8"), minimum=20))
    segments = [_segment_bits(chunk) for chunk in chunks]
    modes = [chunk.mode for chunk in chunks]
    version = _version(segments, modes, error_correction)
    sizes = util.mode_sizes_for_version(version)
    value = length = 0
    for chunk, bits in zip(chunks, segments, strict=True):
        for v, width in [(chunk.mode, 4), (len(chunk), sizes[chunk.mode]), *bits]:
            value = (value << width) | v
            length += width
    blocks = base.rs_blocks(version, error_correction)
    limit = sum(block.data_count for block in blocks) * 8
    terminator = min(limit - length, 4)  # up to four 0 bits, then to a byte boundary
    value <<= terminator
    length += terminator
    value <<= -length % 8
    length += -length % 8
    stream = value.to_bytes(length // 8, "big")
    stream += bytes([util.PAD0, util.PAD1] * limit)[: limit // 8 - len(stream)]
    data_blocks: list[list[int]] = []
    ec_blocks: list[list[int]] = []
    offset = 0
    for block in blocks:
        chunk_bytes = list(stream[offset : offset + block.data_count])
        offset += block.data_count
        data_blocks.append(chunk_bytes)
        ec_blocks.append(_error_correction(chunk_bytes, block.total_count - block.data_count))
    out: list[int] = []
    for group in (data_blocks, ec_blocks):
        for i in range(max(len(b) for b in group)):
            out.extend(b[i] for b in group if i < len(b))
    return version, bytes(out)


def qr_modules(data: str, error_correction: int = ERROR_CORRECT_M) -> tuple[Grid, int]:
    """The QR symbol of ``data`` (no quiet zone; True is dark) and the mask chosen for it."""
    version, stream = codewords(data, error_correction)
    layout = _layout(version, error_correction)
    codewords_array = np.frombuffer(stream, dtype=np.uint8)
    bits = np.zeros(len(layout.rows), dtype=bool)
    unpacked = np.unpackbits(codewords_array).astype(bool)[: len(bits)]
    bits[: len(unpacked)] = unpacked  # remainder bits stay light
    candidates = np.repeat(layout.blank[None], 8, axis=0)
    candidates[:, layout.rows, layout.cols] = bits[None] ^ layout.masks
    chosen = int(np.argmin(penalties(candidates)))  # the first lowest, as ``qrcode`` picks
    symbol = candidates[chosen]
    rows, cols, values = layout.info[chosen]
    symbol[rows, cols] = values
    return symbol, chosen


def qr_matrix(data: str, border: int = 4, error_correction: int = ERROR_CORRECT_M) -> Grid:
    """The symbol of ``data`` with a quiet zone of ``border`` light modules around it."""
    symbol, _ = qr_modules(data, error_correction)
    return np.pad(symbol, border, constant_values=False)
