"""plot.py — a line chart as a PNG with nothing but the standard library (zlib), for the figures in
models/RESULTS.md: axes, ticks labelled with a 5x7 bitmap font (digits, '.', '%', 'k'), one line
with square markers per series; the legend is the caller's text (colours named in COLOURS)."""
import struct
import zlib

# (name, RGB) of the series, in order
COLOURS = [("blue", (31, 119, 180)), ("orange", (255, 127, 14)), ("green", (44, 160, 44)), ("red", (214, 39, 40))]

# 5x7 glyphs, one string of 7 rows of 5 bits each
FONT = {
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    ".": "00000 00000 00000 00000 00000 01100 01100", "%": "11000 11001 00010 00100 01000 10011 00011",
    "k": "10000 10000 10010 10100 11000 10100 10010", " ": "00000 00000 00000 00000 00000 00000 00000",
}


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x, y, rgb):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(rgb)

    def rect(self, x0, y0, x1, y1, rgb):
        for y in range(min(y0, y1), max(y0, y1) + 1):
            for x in range(min(x0, x1), max(x0, x1) + 1):
                self.dot(x, y, rgb)

    def line(self, x0, y0, x1, y1, rgb, width=2):
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in range(n + 1):
            x, y = round(x0 + (x1 - x0) * k / n), round(y0 + (y1 - y0) * k / n)
            self.rect(x, y, x + width - 1, y + width - 1, rgb)

    def text(self, x, y, s, rgb=(0, 0, 0), scale=2):
        """s at top-left (x, y); characters without a glyph are left blank"""
        for c in s:
            rows = FONT.get(c, FONT[" "]).split()
            for r, bits in enumerate(rows):
                for b, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(x + b * scale, y + r * scale, x + (b + 1) * scale - 1, y + (r + 1) * scale - 1, rgb)
            x += 6 * scale

    def png(self):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))
        chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def line_chart(path, xlabels, series, ymax, yticks, w=560, h=360):
    """series: lists of y (None for a missing point) over len(xlabels) evenly spaced x; y in [0, ymax]"""
    c = Canvas(w, h)
    left, right, top, bottom = 70, w - 20, 20, h - 50
    grey, black = (200, 200, 200), (0, 0, 0)
    X = lambda i: left + (right - left) * (i + 0.5) / len(xlabels)
    Y = lambda v: round(bottom - (bottom - top) * min(v, ymax) / ymax)
    for t in yticks:
        c.line(left, Y(t), right, Y(t), grey, 1)
        label = ("%g%%" % t)
        c.text(left - 8 - 12 * len(label), Y(t) - 7, label)
    c.line(left, top, left, bottom, black)
    c.line(left, bottom, right, bottom, black)
    for i, lab in enumerate(xlabels):
        c.line(round(X(i)), bottom, round(X(i)), bottom + 5, black)
        c.text(round(X(i)) - 6 * len(lab), bottom + 12, lab)
    for s, (_, rgb) in zip(series, COLOURS):
        pts = [(round(X(i)), Y(v)) for i, v in enumerate(s) if v is not None]
        for a, b in zip(pts, pts[1:]):
            c.line(a[0], a[1], b[0], b[1], rgb, 3)
        for x, y in pts:
            c.rect(x - 4, y - 4, x + 4, y + 4, rgb)
    with open(path, "wb") as f:
        f.write(c.png())
