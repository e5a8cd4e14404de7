"""The certificate PDF, drawn with ReportLab.

Chinese text uses ReportLab's built-in CID font STSong-Light: PDF viewers
ship the Adobe-GB1 glyphs for it, so it renders on a bare machine without
any font file installed on the server.
"""

from __future__ import annotations

import io

from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from timebank.ledger.certificates import check_code, mask_name
from timebank.ledger.models import Certificate

FONT = "STSong-Light"


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def hours_text(minutes: int) -> str:
    hours, rest = divmod(int(minutes), 60)
    return f"{hours} 小时 {rest} 分钟" if rest else f"{hours} 小时"


def certificate_pdf(cert: Certificate, *, verify_url: str) -> bytes:
    """A one-or-more-page A4 certificate: masked identity, itemised service,
    issuer, number, date and check code."""
    font = _font()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(f"志愿服务证明 {cert.number}")
    width, height = A4
    left = 20 * mm

    def header() -> float:
        pdf.setFont(font, 22)
        pdf.drawCentredString(width / 2, height - 30 * mm, "志愿服务证明")
        pdf.setFont(font, 10)
        pdf.drawRightString(width - left, height - 38 * mm, f"编号：{cert.number}")
        return float(height - 50 * mm)

    y = header()
    volunteer = cert.volunteer
    identity = mask_name(volunteer.name)
    if volunteer.masked_phone:
        identity += f"（手机 {volunteer.masked_phone}）"
    pdf.setFont(font, 12)
    lines = [
        f"兹证明志愿者 {identity}",
        f"于 {cert.period_start.isoformat()} 至 {cert.period_end.isoformat()} 期间，",
        f"在 {cert.issuer} 参加经核实的志愿服务，累计 {hours_text(cert.minutes)}。",
    ]
    for line in lines:
        pdf.drawString(left, y, line)
        y -= 8 * mm
    y -= 4 * mm
    pdf.setFont(font, 11)
    pdf.drawString(left, y, "日期")
    pdf.drawString(left + 35 * mm, y, "服务类别")
    pdf.drawString(left + 70 * mm, y, "服务内容")
    pdf.drawRightString(width - left, y, "时长")
    y -= 3 * mm
    pdf.line(left, y, width - left, y)
    y -= 6 * mm
    pdf.setFont(font, 10)
    if not cert.items:
        pdf.drawString(left, y, "该期间无经核实的志愿服务记录。")
        y -= 6 * mm
    for item in cert.items:
        if y < 40 * mm:
            pdf.showPage()
            y = header()
            pdf.setFont(font, 10)
        pdf.drawString(left, y, str(item.get("date", "")))
        pdf.drawString(left + 35 * mm, y, str(item.get("category", ""))[:14])
        pdf.drawString(left + 70 * mm, y, str(item.get("content", ""))[:30])
        pdf.drawRightString(width - left, y, hours_text(int(item.get("minutes", 0))))
        y -= 6 * mm
    y -= 8 * mm
    pdf.setFont(font, 11)
    issued = timezone.localtime(cert.issued_at).date().isoformat()
    for line in (
        f"出具单位：{cert.issuer}（谁记录谁证明）",
        f"出具日期：{issued}",
        f"校验码：{check_code(cert.number)}",
        f"查验地址：{verify_url}",
    ):
        pdf.drawString(left, y, line)
        y -= 7 * mm
    pdf.setFont(font, 8)
    pdf.drawString(left, 15 * mm, "本证明免费出具，时间积分只兑换服务，不兑换现金。")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
