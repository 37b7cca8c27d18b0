"""Printable coupon sheets: several coupons per A4 page, cut lines, number, check digit, QR code.

Each coupon shows the survey title, the coupon number in large type (serial, a space, the
check digit: ``10001 4``), a QR code of the same six digits (ODK Collect's barcode question
reads it), the expiry date and the survey's contact text. The QR code is made by ``segno``,
the PDF by ``reportlab`` (with ``invariant=True``: the same coupons give the same bytes).

Examples
--------
>>> pdf = coupon_sheet_pdf([Coupon("100014", expires="2024-03-18")], title="Household survey",
...                        contact="Questions? Call 0800 000 000")
>>> pdf[:5]
b'%PDF-'
"""
from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

from hiddenpop.field.codes import format_code, is_valid_code

__all__ = ["Coupon", "coupon_sheet_pdf", "COUPONS_PER_PAGE"]

#: two columns of four coupons on an A4 page
COLUMNS, ROWS = 2, 4
COUPONS_PER_PAGE = COLUMNS * ROWS


@dataclasses.dataclass(frozen=True)
class Coupon:
    """One coupon to print: its number, expiry date (text, e.g. ``2024-03-18``) and an optional
    batch note printed small (e.g. ``seed set 3`` or the respondent the coupons are for)."""

    code: str
    expires: str = ""
    note: str = ""


def _qr_png(code: str) -> bytes:
    import segno

    buf = io.BytesIO()
    segno.make(code, error="m", micro=False).save(buf, kind="png", scale=8, border=4)
    return buf.getvalue()


def _fit(text: str, font: str, size: float, width: float) -> list[str]:
    """Words of ``text`` wrapped to lines no wider than ``width`` points."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if stringWidth(trial, font, size) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


def coupon_sheet_pdf(coupons: Sequence[Coupon], *, title: str, contact: str) -> bytes:
    """The PDF (bytes) of the coupons, :data:`COUPONS_PER_PAGE` to a page with dashed cut lines.

    Raises
    ------
    ValueError
        No coupon, or a number that is not a valid coupon number (a programming error: numbers
        come from :func:`hiddenpop.field.codes.make_code`).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    if not coupons:
        raise ValueError("no coupon to print")
    bad = [c.code for c in coupons if not is_valid_code(c.code)]
    if bad:
        raise ValueError(f"not valid coupon numbers: {bad[:3]}")
    buf = io.BytesIO()
    pdf = Canvas(buf, pagesize=A4, invariant=True, pageCompression=1)
    pdf.setTitle(f"{title}: coupons")
    pdf.setAuthor("hiddenpop")
    pw, ph = A4
    margin = 28.0
    cw, ch = (pw - 2 * margin) / COLUMNS, (ph - 2 * margin) / ROWS
    for start in range(0, len(coupons), COUPONS_PER_PAGE):
        page = coupons[start:start + COUPONS_PER_PAGE]
        # cut lines: the outer frame and the lines between coupons, dashed, light grey
        pdf.setDash(4, 3)
        pdf.setStrokeGray(0.55)
        pdf.setLineWidth(0.6)
        for i in range(COLUMNS + 1):
            pdf.line(margin + i * cw, margin, margin + i * cw, ph - margin)
        for j in range(ROWS + 1):
            pdf.line(margin, margin + j * ch, pw - margin, margin + j * ch)
        pdf.setDash()
        pdf.setFont("Helvetica", 7)
        pdf.setFillGray(0.4)
        pdf.drawString(margin, margin - 12, "cut along the dashed lines")
        pdf.setFillGray(0)
        for k, c in enumerate(page):
            col, row = k % COLUMNS, k // COLUMNS
            x0, y0 = margin + col * cw, ph - margin - (row + 1) * ch
            pad = 12.0
            qr = 96.0
            pdf.drawImage(ImageReader(io.BytesIO(_qr_png(c.code))), x0 + cw - pad - qr, y0 + ch - pad - qr,
                          qr, qr)
            text_w = cw - 3 * pad - qr
            y = y0 + ch - pad - 11
            pdf.setFont("Helvetica-Bold", 10)
            for ln in _fit(title, "Helvetica-Bold", 10, text_w)[:2]:
                pdf.drawString(x0 + pad, y, ln)
                y -= 13
            y -= 6
            pdf.setFont("Helvetica", 8)
            pdf.drawString(x0 + pad, y, "Coupon number")
            y -= 24
            pdf.setFont("Courier-Bold", 24)
            pdf.drawString(x0 + pad, y, format_code(c.code))
            y -= 18
            pdf.setFont("Helvetica-Bold", 9)
            if c.expires:
                pdf.drawString(x0 + pad, y, f"Valid until {c.expires}")
            y = y0 + pad + 30
            pdf.setFont("Helvetica", 8)
            for ln in _fit(contact, "Helvetica", 8, cw - 2 * pad)[:3][::-1]:
                pdf.drawString(x0 + pad, y, ln)
                y += 10
            pdf.setFont("Helvetica", 6.5)
            pdf.setFillGray(0.35)
            pdf.drawString(x0 + pad, y0 + pad - 2, f"Bring this coupon to the survey team. {c.note}".strip())
            pdf.setFillGray(0)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()
