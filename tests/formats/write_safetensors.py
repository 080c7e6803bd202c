"""Writes a safetensors file with Python's standard library only, following the
format description in huggingface/safetensors' README (8-byte little-endian
header length, JSON header, data section), independently of lorad's writer.
Tensors are deliberately not sorted by name and the header is not padded.

usage: write_safetensors.py OUT.safetensors
"""
import json
import struct
import sys

tensors = [
    # name, dtype, shape, packed little-endian data
    ("b.weight", "F32", [2, 3], struct.pack("<6f", 1.0, -2.0, 3.5, 0.25, -0.0, 1e-3)),
    ("a.bias", "I64", [2], struct.pack("<2q", -7, 1 << 40)),
    ("scalar", "F64", [], struct.pack("<d", 3.141592653589793)),
    ("empty", "BF16", [0, 4], b""),
    ("half", "F16", [2], struct.pack("<2e", 0.5, -65504.0)),
]
header = {"__metadata__": {"format": "pt", "writer": "python"}}
data = b""
for name, dtype, shape, raw in tensors:
    header[name] = {"dtype": dtype, "shape": shape,
                    "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header, separators=(",", ":")).encode("utf-8")
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    f.write(data)
