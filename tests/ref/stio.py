"""Minimal safetensors reader/writer (json + struct, no safetensors package).

Layout: u64 little-endian header length N, a JSON header of
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}
padded with spaces so that 8 + N is a multiple of 8, then the raw
little-endian tensor data, contiguous in header order.
"""
import json
import struct

import numpy as np
import torch

DTYPES = {
    "F32": (torch.float32, "<f4"),
    "F64": (torch.float64, "<f8"),
    "I64": (torch.int64, "<i8"),
    "I32": (torch.int32, "<i4"),
    "U8": (torch.uint8, "u1"),
}
TORCH_TO_NAME = {torch_dtype: name for name, (torch_dtype, _) in DTYPES.items()}


def _tensor_bytes(tensor):
    """Raw little-endian bytes of a tensor and its safetensors dtype name."""
    name = TORCH_TO_NAME.get(tensor.dtype)
    if name is None:
        raise ValueError(f"unsupported dtype {tensor.dtype}")
    array = tensor.detach().cpu().contiguous().numpy()
    return name, array.astype(DTYPES[name][1], copy=False).tobytes()


def save(path, tensors, metadata):
    """Write tensors (dict name -> tensor) and metadata (dict str -> str)."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        dtype, blob = _tensor_bytes(tensor)
        header[name] = {"dtype": dtype, "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def _tensor_from(data, entry):
    """Build a tensor from the data section and one header entry."""
    torch_dtype, np_dtype = DTYPES[entry["dtype"]]
    begin, end = entry["data_offsets"]
    array = np.frombuffer(data, dtype=np_dtype, count=(end - begin) // np.dtype(np_dtype).itemsize,
                          offset=begin)
    return torch.from_numpy(array.copy()).to(torch_dtype).reshape(entry["shape"])


def load(path):
    """Read a file written by save(); returns (dict name -> tensor, metadata)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    tensors, expected = {}, 0
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        if begin != expected or end > len(data):
            raise ValueError(f"{path}: bad data_offsets for {name}")
        tensors[name] = _tensor_from(data, entry)
        expected = end
    return tensors, metadata
