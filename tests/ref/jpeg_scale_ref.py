"""JPEG files and Pillow's DCT-scaled decodes of them, for test_ref_jpeg_scale.

Usage: jpeg_scale_ref.py DIR. Writes DIR/train/a/NAME.jpg (an image folder of
one class) and, for each file and each denominator d of Pillow's draft (1, 2,
4, 8: scale 8/d of 8), DIR/ref/NAME-<8/d>.rgb: Image.draft("RGB", (w // d,
h // d)), then RGB, interleaved bytes. draft picks libjpeg's scale_denom d
with the default decoder settings (JDCT_ISLOW, fancy upsampling), the ones
byol decodes with. DIR/smooth/a/smooth.jpg is a smooth image (sinusoids of
period >= 96 px, known amplitude) for the crop+resize comparison.
"""
import os
import sys

import numpy as np
from PIL import Image

# name, width, height, mode, Pillow save options
FILES = [
    ("a_420", 500, 375, "RGB", {"quality": 90}),
    ("b_odd", 333, 251, "RGB", {"quality": 90}),
    ("c_444", 264, 200, "RGB", {"quality": 95, "subsampling": 0}),
    ("d_422", 301, 203, "RGB", {"quality": 85, "subsampling": 1}),
    ("e_gray", 250, 190, "L", {"quality": 90}),
    ("f_prog", 420, 317, "RGB", {"quality": 90, "progressive": True}),
]


def natural(w, h, mode, rng):
    """Smooth colour gradients, a few soft blobs and pixel noise: photo-like spectra."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        a, b, p = rng.uniform(-1, 1, 3)
        img[..., c] = 0.5 + 0.25 * (a * x / w + b * y / h) + 0.1 * np.sin(x / 17 + p)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(8, w / 4)
        img += rng.uniform(-0.3, 0.3, 3) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / r**2)[..., None]
    img += rng.normal(0, 0.04, img.shape)
    px = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(px[..., 0] if mode == "L" else px, mode)


# The smooth image: I_c(x, y) = 0.5 + A sin(2πx/PX + φc) cos(2πy/PY + ψc).
SMOOTH_W, SMOOTH_H, SMOOTH_A, SMOOTH_PX, SMOOTH_PY = 512, 384, 0.3, 128.0, 96.0


def smooth():
    y, x = np.mgrid[0:SMOOTH_H, 0:SMOOTH_W].astype(np.float64)
    img = np.stack([0.5 + SMOOTH_A * np.sin(2 * np.pi * x / SMOOTH_PX + c)
                    * np.cos(2 * np.pi * y / SMOOTH_PY + 2 * c) for c in range(3)], -1)
    return Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(7)
    for sub in ("train/a", "ref", "smooth/a"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    for name, w, h, mode, opts in FILES:
        path = os.path.join(out, "train/a", name + ".jpg")
        natural(w, h, mode, rng).save(path, "JPEG", **opts)
        for d in (1, 2, 4, 8):
            with Image.open(path) as im:
                im.draft("RGB", (w // d, h // d))
                assert im.size == ((w + d - 1) // d, (h + d - 1) // d), (name, d, im.size)
                rgb = im.convert("RGB")
            with open(os.path.join(out, "ref", f"{name}-{8 // d}.rgb"), "wb") as f:
                f.write(rgb.tobytes())
    smooth().save(os.path.join(out, "smooth/a/smooth.jpg"), "JPEG", quality=95)


if __name__ == "__main__":
    main()
