"""Reads a safetensors file with Python's standard library and prints
name dtype shape and the values as JSON lines (for checking lorad's writer
against an independent reader).  usage: read_safetensors.py FILE"""
import json
import struct
import sys

FORMATS = {"F32": "f", "F64": "d", "I64": "q", "I32": "i", "U8": "B", "F16": "e"}
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
assert n % 8 == 0, "header not padded to 8"
header = json.loads(raw[8:8 + n].decode("utf-8"))
data = raw[8 + n:]
meta = header.pop("__metadata__", {})
print(json.dumps({"metadata": meta}))
names = sorted(header, key=lambda k: header[k]["data_offsets"])
for name in names:
    info = header[name]
    b, e = info["data_offsets"]
    fmt = FORMATS[info["dtype"]]
    count = (e - b) // struct.calcsize(fmt)
    values = list(struct.unpack("<%d%s" % (count, fmt), data[b:e]))
    print(json.dumps({"name": name, "dtype": info["dtype"], "shape": info["shape"],
                      "values": values}))
