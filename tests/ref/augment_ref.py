#!/usr/bin/python3
"""augment_ref.py — cross-check daemon/data/augment*.c against torchvision.

Builds the augmentation code into a temporary shared library, draws random
views with the C code (augment_rng + augment_draw), applies each draw both
with augment_apply and with torchvision's functional ops in the order
augment.h gives, and reports the largest difference. Also checks the centre
view. Exits non-zero when any difference exceeds the tolerance.

The two agree to about 3e-6 of the [0, 1] range, not bit for bit: torch
computes the source coordinate in double but the cubic weights in float32
(with FMA contraction in its vectorised build), and sums in another order.

    /usr/bin/python3 tests/ref/augment_ref.py [N]

Where the BYOL paper departs from torchvision the reference follows the paper, as the
C code does: brightness is additive, contrast works around each channel's
mean, the resized crop is clipped to [0, 1].
"""
import ctypes as C
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOL = 1e-5  # in [0, 1] pixel units: |C − torch| · std; a uint8 step is 3.9e-3


class Rng(C.Structure):
    _fields_ = [("key", C.c_uint64), ("ctr", C.c_uint64)]


class Image(C.Structure):
    _fields_ = [("c", C.c_int), ("h", C.c_int), ("w", C.c_int), ("px", C.POINTER(C.c_uint8)),
                ("cap", C.c_size_t), ("owned", C.c_int)]


class View(C.Structure):
    _fields_ = [("scale", C.c_float * 2), ("ratio", C.c_float * 2), ("flip", C.c_float),
                ("jitter_p", C.c_float), ("brightness", C.c_float), ("contrast", C.c_float),
                ("saturation", C.c_float), ("hue", C.c_float), ("grayscale", C.c_float),
                ("blur_p", C.c_float), ("sigma", C.c_float * 2), ("solarize", C.c_float)]


class Draw(C.Structure):
    _fields_ = [("crop_x", C.c_int), ("crop_y", C.c_int), ("crop_w", C.c_int),
                ("crop_h", C.c_int), ("flip", C.c_int), ("jitter", C.c_int),
                ("brightness", C.c_float), ("contrast", C.c_float), ("saturation", C.c_float),
                ("hue", C.c_float), ("order", C.c_int * 4), ("grayscale", C.c_int),
                ("sigma", C.c_float), ("solarize", C.c_int)]


def build(tmp):
    src = [os.path.join(ROOT, p) for p in ("common/rng.c", "common/err.c",
                                           "daemon/data/augment.c",
                                           "daemon/data/augment_pixels.c")]
    lib = os.path.join(tmp, "libaugment.so")
    subprocess.check_call(["gcc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-shared", "-fPIC",
                           "-I" + os.path.join(ROOT, "common"),
                           "-I" + os.path.join(ROOT, "daemon/data"), *src, "-o", lib, "-lm"])
    so = C.CDLL(lib)
    so.augment_rng.restype = Rng
    so.augment_rng.argtypes = [C.c_uint64, C.c_uint64, C.c_uint64, C.c_int]
    so.augment_scratch_floats.restype = C.c_size_t
    return so


def c_apply(so, px, d, size, mean, std):
    c, h, w = px.shape
    buf = np.ascontiguousarray(px)
    img = Image(c, h, w, buf.ctypes.data_as(C.POINTER(C.c_uint8)), 0, 0)
    out = np.zeros((c, size, size), np.float32)
    scratch = np.zeros(so.augment_scratch_floats(size, C.byref(img)), np.float32)
    fp = C.POINTER(C.c_float)
    args = [out.ctypes.data_as(fp), scratch.ctypes.data_as(fp), C.byref(img)]
    m = np.asarray(mean, np.float32)
    s = np.asarray(std, np.float32)
    if d is None:
        so.augment_center(*args, size, m.ctypes.data_as(fp), s.ctypes.data_as(fp))
    else:
        so.augment_apply(*args, C.byref(d), size, m.ctypes.data_as(fp), s.ctypes.data_as(fp))
    return out


def torch_apply(px, d, size, mean, std):
    x = torch.from_numpy(px.astype(np.float32) / 255.0)
    x = F.resized_crop(x, d.crop_y, d.crop_x, d.crop_h, d.crop_w, [size, size],
                       InterpolationMode.BICUBIC, antialias=False).clamp(0, 1)
    if d.flip:
        x = F.hflip(x)
    rgb = x.shape[0] == 3
    if d.jitter:
        for op in d.order:
            if op == 0:
                x = (x + d.brightness).clamp(0, 1)
            elif op == 1:
                m = x.mean(dim=(1, 2), keepdim=True)
                x = ((x - m) * d.contrast + m).clamp(0, 1)
            elif op == 2 and rgb:
                x = F.adjust_saturation(x, d.saturation)
            elif op == 3 and rgb:
                x = F.adjust_hue(x, d.hue)
    if d.grayscale and rgb:
        x = F.rgb_to_grayscale(x, 3)
    k = 2 * (size // 20) + 1
    if d.sigma > 0 and k > 1:
        x = F.gaussian_blur(x, [k, k], [d.sigma, d.sigma])
    if d.solarize:
        x = F.solarize(x, 0.5)
    return F.normalize(x, mean, std).numpy()


def pixel_error(got, want, std):
    """Largest difference in [0, 1] units (undoing the division by std)."""
    return float((np.abs(got - want) * np.asarray(std, np.float32)[:, None, None]).max())


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rs = np.random.default_rng(0)
    shapes = [(1, 28, 28, 28), (3, 32, 32, 32), (3, 45, 61, 40), (3, 120, 90, 64),
              (3, 256, 320, 224), (1, 7, 5, 16)]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        so = build(tmp)
        for c, h, w, size in shapes:
            mean, std = [0.5, 0.45, 0.4][:c], [0.25, 0.3, 0.2][:c]
            shape_worst = 0.0
            for i in range(n if size < 100 else n // 10):
                px = rs.integers(0, 256, (c, h, w), dtype=np.uint8)
                if i % 3 == 0:  # smooth images too: less clipping, more interpolation
                    px = np.clip(np.cumsum(rs.integers(-9, 10, (c, h, w)), 2) + 128, 0, 255)
                    px = px.astype(np.uint8)
                view = 1 + i % 2
                v = View()
                so.augment_view_default(C.byref(v), view)
                r = so.augment_rng(77, 3, i, view)
                d = Draw()
                so.augment_draw(C.byref(d), C.byref(v), h, w, C.byref(r))
                got = c_apply(so, px, d, size, mean, std)
                want = torch_apply(px, d, size, mean, std)
                shape_worst = max(shape_worst, pixel_error(got, want, std))
            center = Draw()
            so.augment_center_draw(C.byref(center), h, w)
            got = c_apply(so, px, None, size, mean, std)
            want = torch_apply(px, center, size, mean, std)
            shape_worst = max(shape_worst, pixel_error(got, want, std))
            print(f"{c}x{h}x{w} -> {size}: max |C - torch| = {shape_worst:.3g}")
            worst = max(worst, shape_worst)
    print(f"worst {worst:.3g} (tolerance {TOL:g})")
    return 0 if worst <= TOL else 1


if __name__ == "__main__":
    sys.exit(main())
