"""Write the seed inputs of the fuzz targets into tests/fuzz/corpus/<target>/.

    /usr/bin/python3 tests/fuzz/make_corpus.py [corpus dir]

Seeds are small valid files plus a few edge cases, named seed-*; each run
replaces the seed-* files and leaves the inputs libFuzzer's -merge=1 added
(named by their SHA-1). Every byte is deterministic. The input layouts are
described at the top of each tests/fuzz/fuzz_*.c.
"""
import copy
import gzip
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ref"))
import models  # noqa: E402  (tests/ref/models.py: the networks with byol's names)
import png_webp_ref as pw  # noqa: E402  (tests/ref: PNG and WebP writers, by hand and Pillow's)

PRESETS = os.path.join(HERE, "..", "..", "common", "presets")

# Dataset flag byte (fuzz_dataset.h).
THREE, SKIP, TEST, VAR_A, VAR_B = 1, 2, 4, 8, 16


def limit(n):
    return n << 5


# Must match `tiny` in fuzz_safetensors.c.
TINY = {"width": 0.03, "channels": 1, "hidden": 4, "out": 2}


def pattern(n, mul=37, add=11):
    """n deterministic bytes that are not all alike."""
    return (np.arange(n, dtype=np.uint32) * mul + add).astype(np.uint8).tobytes()


# ---- fuzz_rpc ---------------------------------------------------------------

TOKEN = "0123456789abcdef" * 4


def rpc(method, params=None, id_=1):
    req = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        req["params"] = params
    if id_ is not None:
        req["id"] = id_
    return json.dumps(req, separators=(",", ":"))


def rpc_seeds():
    """Flag byte (bit 0 authed, bits 1-7 feed size - 1), then request lines."""
    hello = rpc("server.hello")
    return {
        "hello": b"\x01" + (hello + "\n").encode(),
        "auth-then-get": b"\x00" + "\n".join([
            rpc("auth", {"token": TOKEN}), rpc("job.get", {"job_id": 7, "all": True}, 2)
        ]).encode() + b"\n",
        "wrong-token": b"\x0e" + "\r\n".join(
            [rpc("auth", {"token": "f" * 64}, i) for i in range(4)]).encode() + b"\r\n",
        "batch": b"\x11" + ("[" + ",".join([
            rpc("job.get", {"job_id": 3, "ratio": 0.5, "tags": [1, "a"], "since_step": -2},
                "a"),
            rpc("server.status", None, None),
            rpc("job.submit", {"spec": {"train": {"epochs": 2}}, "extra": [None]}, 3.5),
        ]) + "]\n").encode(),
        "handler-error": b"\x03" + (rpc("job.get", {"job_id": 1, "code": -32004,
                                                    "message": "no job \u00e9"}) + "\n").encode(),
        "bad-requests": b"\x7f" + b"\n".join([
            b'{"jsonrpc":"1.0","method":5,"id":[1]}', b"[]", b"[1,2]", b"\t\r",
            b'{"jsonrpc":"2.0","method":"job.get","params":{"job_id":1e300},"id":null}',
            b'{"jsonrpc":"2.0","method":"x","id":1,"id":2}', b"\xff\xfe{", b'"\\u0000"',
        ]) + b"\n",
        "partial-line": b"\x00" + hello.encode(),
    }


# ---- fuzz_spec --------------------------------------------------------------

def spec_input(preset, spec=b"", set_=b"", lines=()):
    """Flag byte (preset 0-3), spec JSON, NUL, set JSON, NUL, set strings."""
    text = b"\0".join([spec, set_, "\n".join(lines).encode()])
    return bytes([preset]) + text.rstrip(b"\0")


def preset_spec(name):
    """A preset file as a spec object (the description is preset-only)."""
    with open(os.path.join(PRESETS, name + ".json"), encoding="utf-8") as f:
        spec = json.load(f)
    spec.pop("description")
    return json.dumps(spec).encode()


FULL_SPEC = {
    "name": "full", "seed": 7, "threads": 2,
    "data": {"format": "imagefolder", "path": "/srv/data/pets", "split": "train",
             "limit": 1000, "image_size": 64, "channels": 3, "mean": [0.5, 0.4, 0.3],
             "std": [0.2, 0.2, 0.2], "on_error": "fail"},
    "eval_data": {"split": "val", "limit": 0},
    "model": {"encoder": "resnet18", "width": 0.5, "stem": "cifar",
              "projector": {"hidden": 512, "out": 64}, "predictor": {"hidden": 512, "out": 64}},
    "augment": {"view1": {"crop": {"scale": [0.08, 1], "ratio": [0.75, 1.3333]}, "flip": 0.5,
                          "jitter": {"p": 0.8, "brightness": 0.4, "contrast": 0.4,
                                     "saturation": 0.2, "hue": 0.1},
                          "grayscale": 0.2, "blur": {"p": 1, "sigma": [0.1, 2]}, "solarize": 0},
                "view2": {"blur": {"p": 0.1}, "solarize": 0.2}},
    "optim": {"name": "sgd", "base_lr": 0.3, "weight_decay": 1e-4, "momentum": 0.9,
              "eta": 0.001, "warmup_epochs": 1},
    "train": {"epochs": 5, "batch_size": 32, "tau_base": 0.996, "log_every": 5},
    "checkpoint": {"every_steps": 100, "every_seconds": 0, "keep_last": 2},
    "eval": {"linear": {"epochs": 0}, "knn": {"k": 20, "t": 0.07}, "every_epochs": 1},
}


def spec_seeds():
    return {
        "fmnist-convnet": spec_input(0, preset_spec("fmnist-convnet")),
        "fmnist-quick": spec_input(0, preset_spec("fmnist-quick")),
        "full": spec_input(0, json.dumps(FULL_SPEC).encode()),
        "preset-set": spec_input(
            1, b"{}", b'{"train.epochs": 2, "data.limit": 100, "model": {"encoder": "resnet18"},'
            b' "augment.view1.crop.scale": [0.5, 1]}',
            ["train.batch_size=64", "model.encoder=convnet", "name=run 1", "eval_data.split=t"]),
        "set-strings": spec_input(2, b"", b"", ["optim.base_lr=0.5", "data.mean=[0.1]",
                                                 "seed=9007199254740992", "eval.knn={\"k\":5}"]),
        "bad-fields": spec_input(0, b'{"train": {"batch_size": 1000000000}, "model": {"width":'
                                    b' 1000}, "data": {"path": "rel", "split": ".."}, "x": 1}'),
        "bad-types": spec_input(0, b'{"seed": "1", "data": {"mean": [true]}}', b'[1]',
                                ["no-equals", "model.width.x=1", "=", "name=\x7f"]),
        "unknown-preset": spec_input(3, b"{}"),
    }


# ---- fuzz_safetensors ---------------------------------------------------------

def raw_safetensors(header, data, pad=True):
    """Length, header text (padded so that 8 + N is a multiple of 8), data."""
    if pad:
        header += b" " * (-(8 + len(header)) % 8)
    return struct.pack("<Q", len(header)) + header + data


def safetensors(tensors, metadata=None, pad=True):
    """A safetensors image of [(name, dtype, shape, bytes)], in that order."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    return raw_safetensors(text, b"".join(blobs), pad)


def tiny_checkpoint():
    """A valid checkpoint of fuzz_safetensors.c's tiny model, PyTorch's names."""
    torch.manual_seed(0)
    enc = models.convnet(TINY["width"], TINY["channels"])
    online = {"online.encoder.": enc,
              "online.projector.": models.mlp(enc.out_channels, TINY["hidden"], TINY["out"]),
              "online.predictor.": models.mlp(TINY["out"], TINY["hidden"], TINY["out"])}
    target = {"target.encoder.": copy.deepcopy(enc),
              "target.projector.": copy.deepcopy(online["online.projector."])}
    tensors = []
    for prefix, module in {**online, **target}.items():
        for name, t in module.state_dict().items():
            dtype, np_type = ("I64", "<i8") if t.dtype == torch.int64 else ("F32", "<f4")
            tensors.append((prefix + name, dtype, t.shape, t.numpy().astype(np_type).tobytes()))
    for prefix, module in online.items():
        for name, p in module.named_parameters():
            blob = np.zeros(p.numel(), "<f4").tobytes()
            tensors.append(("optim.momentum." + prefix + name, "F32", p.shape, blob))
    tensors.sort(key=lambda t: t[1] != "I64")  # int64 first, as checkpoint.c writes
    meta = {"format": "pt", "spec": "{}", "step": "12", "epoch": "1"}
    return safetensors(tensors, meta)


def safetensors_seeds():
    f32 = np.arange(6, dtype="<f4").tobytes()
    return {
        "ckpt-tiny": tiny_checkpoint(),
        "dtypes": safetensors([
            ("a.weight", "F32", (2, 3), f32), ("count", "I64", (), struct.pack("<q", 5)),
            ("u8", "U8", (4,), b"\x01\x02\x03\x04"), ("half", "BF16", (2,), b"\0\x3f\0\x40"),
            ("empty", "F16", (0, 3), b""), ("flag", "BOOL", (1, 1, 1), b"\x01"),
        ], {"format": "pt", "note": "caf\u00e9"}),
        "no-tensors": safetensors([], pad=False),
        "meta-only": safetensors([], {"format": "pt", "spec": "{}", "step": "0", "epoch": "0"}),
        "unpadded": safetensors([("x", "I32", (1,), b"\x07\0\0\0")], pad=False),
        "gap": raw_safetensors(b'{"x":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}',
                               b"\0\0\0\0\x05\x06"),
        "truncated": safetensors([("w", "F64", (2,), b"\0" * 16)])[:-3],
    }


# ---- fuzz_idx, fuzz_cifar, fuzz_jpeg -----------------------------------------------

def idx_images(n, rows, cols):
    return struct.pack(">IIII", 0x803, n, rows, cols) + pattern(n * rows * cols)


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def idx_input(flags, images, labels):
    """Flag byte, u16 little-endian images length, images file, labels file."""
    return bytes([flags]) + struct.pack("<H", len(images)) + images + labels


def gz(data):
    return gzip.compress(data, mtime=0)


def idx_seeds():
    images, labels = idx_images(3, 4, 4), idx_labels([0, 9, 3])
    return {
        "gz": idx_input(0, gz(images), gz(labels)),
        "plain-test-rgb": idx_input(VAR_A | TEST | THREE, images, labels),
        "limit-2": idx_input(limit(2) | SKIP, gz(idx_images(4, 3, 5)), idx_labels([1, 2, 3, 4])),
        "label-mismatch": idx_input(0, images, idx_labels([0, 1])),
        "truncated": idx_input(VAR_A, images[:-5], labels),
        # gzip members one after another, the header split between them
        "gz-members": idx_input(0, gz(images[:6]) + gz(b"") + gz(images[6:]), gz(labels)),
        # more data than the header claims: gzip (stopped there) and plain (by size)
        "gz-trailing": idx_input(0, gz(images + b"\0" * 64), gz(labels)),
        "plain-trailing": idx_input(VAR_A, images + b"\0", labels),
        # a bomb's header: 10^9 images of 28x28, refused by the pixel bound
        "bomb-header": idx_input(SKIP, gz(struct.pack(">IIII", 0x803, 10**9, 28, 28) +
                                          bytes(4096)), gz(idx_labels([0]))),
    }


def cifar_record(label_bytes):
    return bytes(label_bytes) + pattern(3072, 13, len(label_bytes))


def cifar_seeds():
    return {
        "c10-test": bytes([TEST]) + cifar_record([3]) + cifar_record([9]),
        "c10-train-gray": bytes([0]) + cifar_record([1]),
        "c100": bytes([VAR_A | THREE]) + cifar_record([19, 99]),
        "c100-subdir-test": bytes([VAR_A | VAR_B | TEST]) + cifar_record([0, 5]),
        "c10-bad-label": bytes([TEST]) + cifar_record([10]),
    }


def jpeg(mode, size, **options):
    img = Image.frombytes("RGB", size, pattern(size[0] * size[1] * 3, 7, 3)).convert(mode)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80, **options)
    return out.getvalue()


def jpeg_seeds():
    return {
        "gray": bytes([0]) + jpeg("L", (8, 8)),
        "rgb-420": bytes([THREE]) + jpeg("RGB", (16, 12)),
        "rgb-to-gray-progressive": bytes([VAR_A]) + jpeg("RGB", (9, 7), progressive=True),
        "rgb-444-variants": bytes([VAR_B | TEST | VAR_A | THREE]) +
        jpeg("RGB", (5, 3), subsampling=0),
        "cmyk-skip": bytes([SKIP]) + jpeg("CMYK", (4, 4)),
        "truncated": bytes([THREE]) + jpeg("RGB", (16, 16))[:-40],
        # another image type under a JPEG name, skipped or failing by its magic
        "png-named-jpeg-skip": bytes([SKIP | VAR_B]) + png((6, 4)),
        "png-named-jpeg-fail": bytes([VAR_A | TEST]) + png((6, 4)),
    }


def png(size):
    img = Image.frombytes("RGB", size, pattern(size[0] * size[1] * 3, 7, 3))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


# ---- fuzz_png, fuzz_webp --------------------------------------------------------------

def png_seeds():
    rng = np.random.default_rng(5)

    def px(h, w, ch, depth):
        return rng.integers(0, 1 << depth, (h, w, ch), dtype=np.int64)
    rgb = pw.pil("RGB", 7, 5)()
    text = pw.chunk(b"tEXt", b"Comment\0hello") + pw.chunk(b"zTXt", b"k\0\0" +
                                                           zlib.compress(b"z" * 300))
    return {
        "grey": bytes([0]) + pw.pil("L", 8, 6)(),
        "rgb": bytes([THREE]) + rgb,
        "rgba-skip": bytes([SKIP | THREE]) + pw.pil("RGBA", 5, 4)(),
        "palette-trns": bytes([VAR_A]) + pw.palette(6, 5, 9, transparency=bytes(range(9)))(),
        "grey16-laced": bytes([VAR_B | THREE]) + pw.png(px(9, 7, 1, 16), 16, pw.GREY,
                                                         interlace=True),
        "rgba16-text": bytes([TEST | VAR_A]) + pw.png(px(3, 4, 4, 16), 16, pw.RGBA, extra=text),
        "grey2-trns": bytes([limit(1)]) + pw.png(px(5, 9, 1, 2), 2, pw.GREY,
                                                 extra=pw.chunk(b"tRNS", b"\0\1")),
        "palette1-laced": bytes([THREE]) + pw.png(px(10, 11, 1, 1), 1, pw.PALETTE,
                                                  interlace=True,
                                                  extra=pw.chunk(b"PLTE", bytes(range(6)))),
        "truncated": bytes([THREE]) + rgb[:-20],
        "jpeg-named-png-skip": bytes([SKIP | VAR_B]) + jpeg("RGB", (6, 4)),
    }


def webp_seeds():
    rng = np.random.default_rng(6)
    img = Image.frombytes("RGB", (12, 9), pattern(12 * 9 * 3, 7, 3))
    lossy = pw.saved(img, "WEBP", quality=70)
    frames = [Image.frombytes("RGBA", (10, 8), rng.integers(0, 256, 320, np.uint8).tobytes())
              for _ in range(2)]
    anim = pw.saved(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50,
                    lossless=True)
    return {
        "lossy": bytes([THREE]) + lossy,
        "lossless-grey": bytes([0]) + pw.saved(img, "WEBP", lossless=True),
        "alpha-skip": bytes([SKIP | THREE]) + pw.saved(frames[0], "WEBP", quality=60),
        "anim": bytes([VAR_A | THREE]) + anim,
        "truncated": bytes([THREE | SKIP]) + lossy[:-30],
        "canvas-huge": bytes([SKIP]) + pw.vp8x(16383, 16383),
        "png-named-webp-fail": bytes([VAR_A | TEST]) + png((6, 4)),
        "variant-b": bytes([VAR_B | limit(2)]) + lossy,
    }


SEEDS = {"fuzz_rpc": rpc_seeds, "fuzz_spec": spec_seeds, "fuzz_safetensors": safetensors_seeds,
         "fuzz_idx": idx_seeds, "fuzz_cifar": cifar_seeds, "fuzz_jpeg": jpeg_seeds,
         "fuzz_png": png_seeds, "fuzz_webp": webp_seeds}


def main(root):
    for target, make in SEEDS.items():
        out = os.path.join(root, target)
        os.makedirs(out, exist_ok=True)
        for name in os.listdir(out):
            if name.startswith("seed-"):
                os.remove(os.path.join(out, name))
        for name, data in make().items():
            with open(os.path.join(out, "seed-" + name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus"))
