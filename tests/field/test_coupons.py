"""Coupon numbers (Damm check digit from python-stdnum) and the printable coupon sheets."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from stdnum import damm

from hiddenpop.field.codes import FIRST_SERIAL, LAST_SERIAL, format_code, is_valid_code, make_code
from hiddenpop.field.couponsheet import COUPONS_PER_PAGE, Coupon, coupon_sheet_pdf

pypdf = pytest.importorskip("pypdf")

# The Damm operation table as published (Damm 2004; the table on Wikipedia "Damm algorithm"),
# typed here independently of stdnum's copy.
TABLE = np.array([[0, 3, 1, 7, 5, 9, 8, 6, 4, 2], [7, 0, 9, 2, 1, 5, 4, 8, 6, 3], [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
                  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6], [6, 1, 2, 3, 0, 4, 5, 9, 7, 8], [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
                  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4], [8, 9, 4, 5, 3, 6, 2, 0, 1, 7], [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
                  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0]])


def _interim(digits: np.ndarray) -> np.ndarray:
    """Damm interim digit of each row of a (n, 6) digit array (0 = valid), vectorised."""
    out = np.zeros(len(digits), dtype=np.int64)
    for k in range(digits.shape[1]):
        out = TABLE[out, digits[:, k]]
    return out


def _all_codes() -> np.ndarray:
    codes = [make_code(s) for s in range(FIRST_SERIAL, LAST_SERIAL + 1)]
    return np.array([[int(c) for c in code] for code in codes], dtype=np.int64)


def test_every_single_digit_error_and_adjacent_transposition_is_rejected():
    digits = _all_codes()                                   # all 89,999 coupon numbers
    assert len(digits) == 89_999 and (_interim(digits) == 0).all()
    n_checked = 0
    for pos in range(6):                                    # every single-digit error: 9 per position
        for delta in range(1, 10):
            bad = digits.copy()
            bad[:, pos] = (bad[:, pos] + delta) % 10
            assert (_interim(bad) != 0).all(), (pos, delta)
            n_checked += len(bad)
    for pos in range(5):                                    # every adjacent transposition (of two different digits)
        bad = digits.copy()
        bad[:, [pos, pos + 1]] = bad[:, [pos + 1, pos]]
        differ = digits[:, pos] != digits[:, pos + 1]
        assert (_interim(bad[differ]) != 0).all(), pos
        n_checked += int(differ.sum())
    assert n_checked > 5_000_000
    # the second route: stdnum itself on a sample of the mistyped numbers
    rng = np.random.default_rng(1)
    for row in digits[rng.integers(0, len(digits), 200)]:
        code = "".join(map(str, row))
        assert damm.is_valid(code) and is_valid_code(code)
        swapped = code[:2] + code[3] + code[2] + code[4:]
        assert is_valid_code(swapped) == (code[2] == code[3])
        assert not is_valid_code(code[:4] + str((int(code[4]) + 5) % 10) + code[5])


def test_numbers_are_six_digits_never_starting_with_zero():
    assert make_code(FIRST_SERIAL) == "100014"   # by hand: interim 0 ->3 ->1 ->7 ->8 ->4 along the table
    assert format_code("100014") == "10001 4"
    with pytest.raises(ValueError):
        make_code(LAST_SERIAL + 1)


def _pdf_text_and_qr(data: bytes):
    reader = pypdf.PdfReader(io.BytesIO(data))
    texts = [p.extract_text() for p in reader.pages]
    images = [[im for im in p.images] for p in reader.pages]
    return reader, texts, images


@pytest.mark.parametrize("n", [1, 8, 19])
def test_the_pdf_has_the_requested_coupons(n):
    coupons = [Coupon(make_code(20000 + i), expires="2024-03-18", note=f"set {i // 2 + 1}") for i in range(n)]
    data = coupon_sheet_pdf(coupons, title="Refugee household survey", contact="Questions? Call 0800 123 456.")
    reader, texts, images = _pdf_text_and_qr(data)
    assert len(reader.pages) == math.ceil(n / COUPONS_PER_PAGE)
    text = "\n".join(texts)
    assert text.count("Coupon number") == n and text.count("Valid until 2024-03-18") == n
    assert [format_code(c.code) in text for c in coupons] == [True] * n
    assert sum(len(i) for i in images) == n                       # one QR code per coupon
    assert all("cut along the dashed lines" in t for t in texts)
    # dashed cut lines: the dash pattern operator in every page's content stream
    assert all(b"[4 3] 0 d" in p.get_contents().get_data() for p in reader.pages)
    # same coupons, same bytes
    assert data == coupon_sheet_pdf(coupons, title="Refugee household survey", contact="Questions? Call 0800 123 456.")


def test_each_qr_code_reads_back_as_its_coupon_number():
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    coupons = [Coupon(make_code(30000 + 7 * i)) for i in range(10)]
    _, _, images = _pdf_text_and_qr(coupon_sheet_pdf(coupons, title="Survey", contact="Contact"))
    read = sorted(zxingcpp.read_barcodes(Image.open(io.BytesIO(im.data)))[0].text for page in images for im in page)
    assert read == sorted(c.code for c in coupons)


def test_invalid_numbers_are_refused():
    with pytest.raises(ValueError, match="not valid coupon numbers"):
        coupon_sheet_pdf([Coupon("100015")], title="t", contact="c")
