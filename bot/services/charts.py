"""The /stats picture: a funnel chart per flow version, as PNG bytes (Pillow).

Bars per version: started → finished → hot, then the tier mix of the finished
ones, each bar labelled with its count. Pillow is imported here only, so
nothing else pays for it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services.stats import VersionStats

WIDTH = 720
ROW = 26
PAD = 16
LABEL_W = 150
COLORS = {
    "started": (96, 125, 139),
    "finished": (33, 150, 243),
    "hot": (229, 57, 53),
    "warm": (251, 140, 0),
    "cold": (120, 144, 156),
    "disqualified": (158, 158, 158),
}


def _font(size: int):
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def funnel_png(stats: list[VersionStats], title: str) -> bytes:
    """A PNG funnel: one block of bars per flow version."""
    from PIL import Image, ImageDraw

    rows_per = 1 + 6  # heading + started, finished, hot, warm, cold, disqualified
    height = PAD * 2 + 30 + max(1, len(stats)) * (rows_per * ROW + PAD)
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    font, bold = _font(14), _font(17)
    draw.text((PAD, PAD), title, fill="black", font=bold)
    y = PAD + 30
    if not stats:
        draw.text((PAD, y), "no interviews", fill="black", font=font)
    bar_w = WIDTH - PAD * 2 - LABEL_W - 60
    for s in stats:
        draw.text((PAD, y), s.label, fill="black", font=bold)
        y += ROW
        top = max(1, s.started)
        bars = [
            ("started", s.started),
            ("finished", s.finished),
            ("hot", s.tiers.get("hot", 0)),
            ("warm", s.tiers.get("warm", 0)),
            ("cold", s.tiers.get("cold", 0)),
            ("disqualified", s.tiers.get("disqualified", 0)),
        ]
        for name, count in bars:
            width = int(bar_w * count / top)
            # A funnel: each bar centred under the first one.
            x0 = PAD + LABEL_W + (bar_w - width) // 2
            draw.text((PAD + 8, y + 4), name, fill="black", font=font)
            if width:
                draw.rectangle((x0, y + 3, x0 + width, y + ROW - 5), fill=COLORS[name])
            draw.text((PAD + LABEL_W + bar_w + 10, y + 4), str(count), fill="black", font=font)
            y += ROW
        y += PAD
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
