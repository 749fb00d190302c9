"""PNG and WebP files and Pillow's decodes of them, for test_ref_png_webp.

Usage: png_webp_ref.py DIR. Writes
  DIR/train/a/NAME        every case of CASES: Pillow's writers where they
                          can (L, LA, RGB, RGBA, P with and without tRNS,
                          P at 4 bits, 1-bit, I;16, WebP lossless, lossy and
                          animated), by hand (zlib + struct) where they
                          cannot: 2- and 4-bit grey, 16-bit RGB, RGBA and
                          LA, tRNS on 16-bit grey, Adam7 interlacing, every
                          filter type;
  DIR/ref/NAME-1.raw      Pillow's Image.open(NAME).convert("L").tobytes(),
  DIR/ref/NAME-3.raw      and .convert("RGB").tobytes();
  DIR/ref/manifest        "NAME W H C" per case in name order (C: 1 for grey
                          files, 3 for colour);
  DIR/bad/a/NAME          damaged and misnamed files, with one good file
                          (the test knows what each must give);
  DIR/mixed/{a,b}/        a JPEG, a PNG and a WebP named in capitals.
The reference is Pillow's, except for 16-bit grey, where Pillow (9.4) opens
mode "I" and convert clips every value over 255 to 255: there it is numpy's
high byte of each sample (v >> 8), the rule Pillow itself applies to 16-bit
RGB, RGBA and LA; the script prints how far Pillow's clipped pixels are.
"""
import io
import os
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image

from jpeg_scale_ref import natural

RNG = np.random.default_rng(11)
# (x0, y0, dx, dy) of Adam7's seven passes
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]
GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6


# ---- PNG by hand ---------------------------------------------------------------

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """One row's samples (ints) as PNG packs them: big-endian, MSB first."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // depth
    s = np.concatenate([samples, np.zeros(-len(samples) % per, np.int64)]).reshape(-1, per)
    return (s << (depth * np.arange(per - 1, -1, -1))).sum(1).astype(np.uint8).tobytes()


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filtered(ftype, row, prev, bpp):
    """The filter byte and row as an encoder writes them."""
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a, b = row[i - bpp] if i >= bpp else 0, prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        p = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
        out[i] = (x - p) & 0xFF
    return bytes([ftype]) + bytes(out)


def png(px, depth, ctype, interlace=False, extra=b""):
    """A PNG of px (h, w, channels) samples; the rows cycle through the 5 filters."""
    h, w, ch = px.shape
    bpp = max(1, ch * depth // 8)
    passes = [px[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7] if interlace else [px]
    data, k = b"", 0
    for sub in passes:
        if sub.size == 0:
            continue
        prev = bytes(len(pack_row(sub[0].ravel(), depth)))
        for r in sub:
            row = pack_row(r.ravel(), depth)
            data += filtered(k % 5, row, prev, bpp)
            prev, k = row, k + 1
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))


def samples(h, w, ch, depth):
    return RNG.integers(0, 1 << depth, (h, w, ch), dtype=np.int64)


def hand(px, depth, ctype, **kw):
    return lambda: png(px, depth, ctype, **kw)


def high_byte(v):
    """numpy's reference for 16-bit grey: (L bytes, RGB bytes) of v >> 8."""
    g = (v >> 8).astype(np.uint8)
    return g.tobytes(), np.repeat(g[..., None], 3, 2).tobytes()


# ---- Pillow's writers ------------------------------------------------------------

def saved(img, fmt, **options):
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def pil(mode, w, h, **options):
    """A w×h PNG of random bytes in mode, saved by Pillow."""
    bands = len(mode)
    img = Image.frombytes(mode, (w, h), RNG.integers(0, 256, w * h * bands, np.uint8).tobytes())
    return lambda: saved(img, "PNG", **options)


def palette(w, h, colours, **options):
    img = Image.fromarray(RNG.integers(0, colours, (h, w), dtype=np.uint8), "P")
    img.putpalette(RNG.integers(0, 256, 3 * colours, dtype=np.uint8).tobytes())
    return lambda: saved(img, "PNG", **options)


def one_bit(w, h):
    img = Image.fromarray(RNG.integers(0, 2, (h, w), dtype=np.uint8) * 255, "L").convert("1")
    return lambda: saved(img, "PNG")


def grey16(w, h):
    img = Image.fromarray(RNG.integers(0, 65536, (h, w), dtype=np.uint16))
    return lambda: saved(img, "PNG")


def luma_cases():
    """Every colour whose luma Pillow rounds otherwise than the exact value
    (299 R + 587 G + 114 B)/1000 rounded half up, then random colours: as RGB."""
    r, g, b = (c.ravel() for c in np.meshgrid(*[np.arange(256)] * 3, indexing="ij"))
    exact = (299 * r + 587 * g + 114 * b + 500) // 1000
    pillow = (19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16
    odd = np.stack([r, g, b], 1)[exact != pillow]
    rest = RNG.integers(0, 256, (180 * 180 - len(odd), 3))
    px = np.concatenate([odd, rest]).astype(np.uint8).reshape(180, 180, 3)
    return lambda: saved(Image.fromarray(px, "RGB"), "PNG")


def webp(img, **options):
    return lambda: saved(img, "WEBP", **options)


def webp_photo(w, h, alpha=False, **options):
    img = natural(w, h, "RGB", RNG)
    if alpha:
        a = np.linspace(0, 255, w * h).reshape(h, w).astype(np.uint8)
        img = Image.fromarray(np.dstack([np.asarray(img), a]), "RGBA")
    return webp(img, **options)


def animation(w, h, n, alpha=False, **options):
    frames = [natural(w, h, "RGB", RNG) for _ in range(n)]
    if alpha:  # semi-transparent: premultiplied colours would differ
        a = np.linspace(40, 255, w * h).reshape(h, w).astype(np.uint8)
        frames = [Image.fromarray(np.dstack([np.asarray(f), a]), "RGBA") for f in frames]
    return lambda: saved(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                         duration=80, **options)


CASES = {
    "p01_l.png": pil("L", 37, 23),
    "p02_la.png": pil("LA", 19, 11),
    "p03_rgb.png": pil("RGB", 31, 17),
    "p04_rgba.png": pil("RGBA", 23, 13),
    "p05_p.png": palette(29, 15, 256),
    "p06_p_trns.png": palette(21, 9, 200, transparency=bytes(range(0, 200))),
    "p07_p4_trns.png": palette(17, 10, 16, bits=4, transparency=3),
    "p08_1bit.png": one_bit(27, 9),
    "p09_g2.png": hand(samples(9, 11, 1, 2), 2, GREY),
    "p10_g4_trns.png": hand(samples(8, 13, 1, 4), 4, GREY,
                            extra=chunk(b"tRNS", struct.pack(">H", 5))),
    "p11_l_trns.png": pil("L", 15, 6, transparency=7),
    "p12_rgb_trns.png": pil("RGB", 14, 7, transparency=(1, 2, 3)),
    "p13_i16.png": grey16(19, 12),
    "p14_rgb16.png": hand(samples(9, 10, 3, 16), 16, RGB),
    "p15_rgba16.png": hand(samples(8, 7, 4, 16), 16, RGBA),
    "p16_la16.png": hand(samples(6, 9, 2, 16), 16, GREY_ALPHA),
    "p17_g16_trns.png": hand(samples(7, 6, 1, 16), 16, GREY,
                             extra=chunk(b"tRNS", struct.pack(">H", 77))),
    "p18_lace_rgb.png": hand(samples(19, 29, 3, 8), 8, RGB, interlace=True),
    "p19_lace_1bit.png": hand(samples(11, 13, 1, 1), 1, GREY, interlace=True),
    "p20_lace_rgba16.png": hand(samples(7, 9, 4, 16), 16, RGBA, interlace=True),
    "p21_lace_p2.png": hand(samples(9, 10, 1, 2), 2, PALETTE, interlace=True,
                            extra=chunk(b"PLTE", bytes(range(10, 22))) +
                            chunk(b"tRNS", b"\x00\x80")),
    "p22_lace_1x1.png": hand(samples(1, 1, 3, 8), 8, RGB, interlace=True),
    "p23_lace_3x2.png": hand(samples(2, 3, 2, 8), 8, GREY_ALPHA, interlace=True),
    "p24_luma.png": luma_cases(),
    "w01_lossless.webp": webp(Image.fromarray(samples(13, 21, 3, 8).astype(np.uint8)),
                              lossless=True),
    "w02_lossless_rgba.webp": webp(Image.fromarray(samples(12, 17, 4, 8).astype(np.uint8)),
                                   lossless=True),
    "w03_lossy.webp": webp_photo(97, 61, quality=80),
    "w04_lossy_rgba.webp": webp_photo(64, 48, alpha=True, quality=70),
    "w05_lossy_odd.webp": webp_photo(33, 17, quality=40),
    "w06_lossy_grey.webp": webp(natural(35, 21, "L", RNG), quality=90),
    "w07_anim.webp": animation(40, 30, 3, quality=75),
    "w08_anim_lossless.webp": animation(36, 20, 2, lossless=True),
    "w09_anim_alpha.webp": animation(34, 22, 2, alpha=True, quality=85),
}


def channels(data):
    """1 for a grey or grey + alpha PNG (its IHDR's colour type), else 3."""
    return 1 if data[:4] == b"\x89PNG" and data[25] in (GREY, GREY_ALPHA) else 3


def references(path, name, data):
    """Pillow's L and RGB bytes of a file (numpy's for 16-bit grey), its size."""
    with warnings.catch_warnings(), Image.open(path) as im:
        warnings.simplefilter("ignore")  # P with bytes tRNS: convert warns
        im.load()
        if im.mode not in ("I", "I;16"):
            return im.convert("L").tobytes(), im.convert("RGB").tobytes(), im.size
        v = np.asarray(im).astype(np.int64)
        clipped = np.asarray(im.convert("L")).astype(np.int64)
        print(f"{name}: Pillow's convert(\"L\") clips 16-bit grey: {np.mean(clipped == 255):.0%}"
              f" of its pixels are 255, {np.mean(clipped != v >> 8):.0%} differ from v >> 8, "
              "the reference here")
        return high_byte(v) + (im.size,)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_cases(out):
    lines = []
    for name in sorted(CASES):
        data = CASES[name]()
        path = os.path.join(out, "train", "a", name)
        write(path, data)
        l, rgb, (w, h) = references(path, name, data)
        c = channels(data)
        assert len(l) == w * h and len(rgb) == 3 * w * h, name
        write(os.path.join(out, "ref", name + "-1.raw"), l)
        write(os.path.join(out, "ref", name + "-3.raw"), rgb)
        lines.append(f"{name} {w} {h} {c}\n")
    write(os.path.join(out, "ref", "manifest"), "".join(lines).encode())


# ---- damaged and misnamed files ------------------------------------------------

def flip(data, at):
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def vp8x(w, h):
    """A RIFF header and VP8X chunk claiming a w×h canvas, then nothing."""
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + bytes(4) + \
        (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def bad_files():
    good_png = pil("RGB", 40, 30)()
    lossy = webp_photo(48, 32, quality=80)()
    lossless = webp(Image.fromarray(samples(32, 32, 3, 8).astype(np.uint8)), lossless=True)()
    anim = animation(32, 24, 3, quality=70)()
    no_plte = png(samples(4, 4, 1, 8), 8, PALETTE)
    ihdr_at = 8 + 8  # the IHDR chunk's data
    return {
        "00_good.png": good_png,
        "b01_head.png": good_png[:20],
        "b02_crc.png": flip(good_png, ihdr_at + 13),  # the IHDR's CRC
        "b03_noplte.png": no_plte,
        "b04_huge.png": png(np.zeros((1, 20000, 1), np.int64), 8, GREY),
        "b05_cut.png": good_png[:len(good_png) // 2],
        "b06_zlib.png": good_png[:60] + bytes(40) + good_png[100:],
        "b07_lace_huge.png": b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
            ">IIBBBBB", 16384, 16384, 8, RGB, 0, 0, 1)) + chunk(b"IDAT", zlib.compress(
                bytes(64))) + chunk(b"IEND", b""),
        "b08_head.webp": lossy[:20],
        "b09_cut.webp": lossy[:len(lossy) // 2],
        "b10_corrupt.webp": lossless[:40] + bytes(range(200)) + lossless[240:],
        "b11_huge.webp": vp8x(16383, 16383),
        "b12_anim_cut.webp": anim[:len(anim) * 2 // 3],
        "c01_png.webp": good_png,
        "c02_webp.png": lossy,
        "c03_jpeg.png": saved(Image.new("RGB", (8, 8)), "JPEG"),
        "c04_gif.png": saved(Image.new("P", (8, 8)), "GIF"),
        "c05_png.txt": good_png,
        "c06_webp": lossy,
    }


def mixed_files():
    photo = natural(200, 150, "RGB", RNG)
    return {"a/1.jpg": saved(photo, "JPEG", quality=90), "a/2.PNG": saved(photo, "PNG"),
            "b/3.WebP": saved(photo, "WEBP", quality=90)}


def main():
    out = sys.argv[1]
    write_cases(out)
    for sub, files in (("bad", bad_files()), ("mixed", mixed_files())):
        for name, data in files.items():
            write(os.path.join(out, sub, "a" if sub == "bad" else "", name), data)


if __name__ == "__main__":
    main()
