"""Coupon numbers: a short serial number and a Damm check digit.

A coupon number is a five-digit serial followed by one check digit of the Damm scheme
(computed by :mod:`stdnum.damm` from ``python-stdnum``), e.g. serial ``10001`` → ``100014``.
The Damm check digit catches every single mistyped digit and every swap of two adjacent
digits, the two most frequent typing errors. Serials start at :data:`FIRST_SERIAL` so that a
number never starts with ``0`` (spreadsheet programs drop leading zeros).

The same check runs in three places: on the printed coupon (nothing to do), in the
questionnaire (an XLSForm ``constraint`` built by :func:`coupon_constraint`, so the enumerator
cannot save a mistyped number) and at import (:func:`is_valid_code`).

Examples
--------
>>> make_code(10001)  # by hand: interim 0 →3 →1 →7 →8 →4 along the table rows
'100014'
>>> is_valid_code("100014"), is_valid_code("100041"), is_valid_code("100015")
(True, False, False)
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from stdnum import damm

from hiddenpop.errors import RecruitmentError

__all__ = ["SERIAL_DIGITS", "CODE_DIGITS", "FIRST_SERIAL", "LAST_SERIAL", "make_code", "is_valid_code",
           "damm_xpath", "coupon_constraint", "format_code", "next_serial"]

SERIAL_DIGITS = 5
CODE_DIGITS = SERIAL_DIGITS + 1
FIRST_SERIAL = 10 ** (SERIAL_DIGITS - 1) + 1
LAST_SERIAL = 10 ** SERIAL_DIGITS - 1
_CODE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")
#: the Damm operation table, rows concatenated (row i, column j at position 10 i + j)
_TABLE = "".join("".join(str(v) for v in row) for row in damm._operation_table)


def make_code(serial: int) -> str:
    """The coupon number of a serial: the serial's digits and its Damm check digit.

    Examples
    --------
    >>> [make_code(s) for s in (10001, 10002, 99999)]
    ['100014', '100023', '999999']
    """
    if not FIRST_SERIAL <= int(serial) <= LAST_SERIAL:
        raise ValueError(f"coupon serials run from {FIRST_SERIAL} to {LAST_SERIAL}, not {serial}")
    body = f"{int(serial):0{SERIAL_DIGITS}d}"
    return body + damm.calc_check_digit(body)


def next_serial(n: int, *, printed_top: int | None, used: Iterable[str], where: str = "store") -> int:
    """The first of ``n`` new serials: after the largest serial printed (``printed_top``) or used in
    the data (``used``: coupon numbers, only valid ones count), so a new number never collides
    with one already in the field.

    >>> next_serial(2, printed_top=None, used=[]), next_serial(2, printed_top=10003, used=["100014", "C12"])
    (10001, 10004)

    Raises
    ------
    RecruitmentError
        Fewer than ``n`` serials are left.
    """
    start = max([FIRST_SERIAL - 1, printed_top or 0] + [int(c[:-1]) for c in used if is_valid_code(c)]) + 1
    if start + n - 1 > LAST_SERIAL:
        raise RecruitmentError(f"only {max(0, LAST_SERIAL - start + 1)} coupon numbers are left", where=where,
                               fix="print fewer coupons")
    return start


def is_valid_code(code: object) -> bool:
    """True when ``code`` has the right length, only digits, and a correct check digit.

    Examples
    --------
    >>> is_valid_code("100014"), is_valid_code(" 100014"), is_valid_code("C00001"), is_valid_code(None)
    (True, False, False, False)
    """
    return isinstance(code, str) and bool(_CODE.match(code)) and damm.is_valid(code)


def format_code(code: str) -> str:
    """The number as printed for reading aloud: the serial, a space, the check digit.

    >>> format_code("100014")
    '10001 4'
    """
    return f"{code[:-1]} {code[-1]}"


def damm_xpath(value: str = ".", digits: int = CODE_DIGITS) -> str:
    """An XPath expression (ODK ``substr``, 0-based) giving the Damm interim digit of ``value``.

    The interim digit of a valid number, check digit included, is 0. The expression is a
    chain of table look-ups, one per digit, each written once (linear in the length).

    Examples
    --------
    >>> damm_xpath("v", 2)
    "number(substr(substr('0317598642709215486342068713591750983426612304597836742095815869720134894536201794386172052581436790', number(substr('0317598642709215486342068713591750983426612304597836742095815869720134894536201794386172052581436790', number(substr(v, 0, 1)), number(substr(v, 0, 1)) + 1)) * 10 + number(substr(v, 1, 2))), 0, 1))"
    """
    interim = f"substr('{_TABLE}', number(substr({value}, 0, 1)), number(substr({value}, 0, 1)) + 1)"
    for k in range(1, digits):
        interim = f"substr(substr('{_TABLE}', number({interim}) * 10 + number(substr({value}, {k}, {k + 1}))), 0, 1)"
    return f"number({interim})"


def coupon_constraint(value: str = ".") -> str:
    """XLSForm ``constraint`` accepting exactly the valid coupon numbers (length, digits, check digit).

    ``regex`` comes first: ODK stops at the first false part of an ``and``, so the look-ups
    only run on six digits.
    """
    return f"regex({value}, '^[0-9]{{{CODE_DIGITS}}}$') and {damm_xpath(value)} = 0"
