#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora into tests/fuzz/corpus/<target>/:
small valid inputs (and a few near misses) that reach deep into each
parser. Run it again when a format changes; only the standard library."""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    """tensors: (name, dtype, shape); data is counting bytes."""
    header, blobs, offset = {}, b"", 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        size = n * (4 if dtype == "F32" else 8)
        if dtype == "F32":
            blob = struct.pack("<%df" % n, *[0.01 * (i % 17) for i in range(n)])
        else:
            blob = struct.pack("<%dq" % n, *range(n))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        blobs += blob
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blobs


def idx(dims, fill):
    body = bytes((fill + i) % 256 for i in range(eval("*".join(map(str, dims)))))
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


graph = [("conv.weight", "F32", [2, 1, 3, 3]), ("conv.bias", "F32", [2]),
         ("bn.weight", "F32", [2]), ("bn.bias", "F32", [2]),
         ("bn.running_mean", "F32", [2]), ("bn.running_var", "F32", [2]),
         ("bn.num_batches_tracked", "I64", []), ("fc.weight", "F32", [3, 32]),
         ("fc.bias", "F32", [3])]
write("fuzz_safetensors", "graph", safetensors(graph, {"format": "pt"}))
write("fuzz_safetensors", "partial", safetensors(graph[:3]))
write("fuzz_safetensors", "wrong-shape", safetensors([("fc.weight", "F32", [32, 3])]))
write("fuzz_safetensors", "empty-header", struct.pack("<Q", 2) + b"{}")

adam = [("fc.weight", "F32", [2, 4]), ("fc.bias", "F32", [2]),
        ("optimizer.fc.weight.exp_avg", "F32", [2, 4]),
        ("optimizer.fc.weight.exp_avg_sq", "F32", [2, 4]),
        ("optimizer.fc.bias.exp_avg", "F32", [2]), ("optimizer.fc.bias.exp_avg_sq", "F32", [2])]
meta = {"format": "pt", "nncl.seed": "7", "nncl.step": "12", "nncl.optimizer.kind": "1",
        "nncl.optimizer.steps": "12", "nncl.optimizer.schedule_position": "3"}
write("fuzz_checkpoint", "adam", safetensors(adam, meta))
write("fuzz_checkpoint", "sgd-kind", safetensors(adam[:2], dict(meta, **{"nncl.optimizer.kind": "0"})))
write("fuzz_checkpoint", "no-metadata", safetensors(adam))

pairs = {"rank3": (idx([4, 3, 3], 1), idx([4], 0)), "rank4": (idx([3, 2, 4, 4], 5), idx([3], 7)),
         "count-mismatch": (idx([4, 3, 3], 1), idx([5], 0)), "short": (idx([4, 3, 3], 1)[:30], idx([4], 0))}
for name, (images, labels) in pairs.items():
    write("fuzz_idx", name, images + b"LABELS" + labels)
    write("fuzz_idx_gz", name, images + b"LABELS" + labels)
    write("fuzz_idx", name + ".gz", gzip.compress(images, mtime=0) + b"LABELS" + gzip.compress(labels, mtime=0))

args = [["--data", "d", "--epochs", "3", "--batch", "32", "--optimizer", "sgd", "--lr", "0.05",
         "--schedule", "multistep", "--milestones", "1,2", "--momentum", "0.9", "--nesterov"],
        ["--data", "d", "--optimizer", "adamw", "--weight-decay", "0.01", "--clip", "1",
         "--schedule", "cosine", "--warmup", "1", "--hflip", "--shift", "2", "--rotate", "10",
         "--noise", "0.1", "--seed", "4", "--label-smoothing", "0.1", "--no-shuffle"],
        ["--data", "d", "--steps", "10", "--resume", "a.safetensors", "--save", "b", "--log-json",
         "l", "--model", "fashion_cnn", "--device", "cpu", "--step-size", "2", "--gamma", "0.5"],
        ["--help"], ["--data", "d", "--lr", "nan"], ["--epochs", "1e30", "--data", "d"]]
for i, a in enumerate(args):
    write("fuzz_train_args", "args%d" % i, b"\0".join(x.encode() for x in a))


def npy(descr, shape, data, version=1, fortran=False):
    """A .npy file as np.save writes it: magic, version, padded dict header."""
    dims = "".join("%d, " % d for d in shape).rstrip(" ") if len(shape) > 1 else "%d," % shape[0]
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False", dims.rstrip(",") if len(shape) > 1 else dims)
    pre = 10 if version == 1 else 12
    total = (pre + len(header) + 1 + 63) // 64 * 64
    header = header + " " * (total - pre - len(header) - 1) + "\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode() + data


signals = npy("<f4", [3, 2, 5], struct.pack("<30f", *[i * 0.5 - 1 for i in range(30)]))
write("fuzz_npy", "signals", signals + b"LABELS" + npy("<i8", [3], struct.pack("<3q", 2, 0, 1)))
write("fuzz_npy", "images-v2", npy("|u1", [2, 1, 3, 4], bytes(range(0, 240, 10)), version=2) +
      b"LABELS" + npy("|u1", [2], bytes([1, 0])))
write("fuzz_npy", "volume-maps", npy("<f8", [2, 1, 2, 2, 2], struct.pack("<16d", *range(16))) +
      b"LABELS" + npy("<i4", [2, 2, 2, 2], struct.pack("<16i", *[i % 3 for i in range(16)])))
write("fuzz_npy", "short", signals[:150] + b"LABELS" + npy("<i8", [3], struct.pack("<3q", 2, 0, 1)))
write("fuzz_npy", "fortran", npy("<f4", [3, 2, 5], bytes(120), fortran=True) + b"LABELS" +
      npy("<i8", [3], bytes(24)))


def varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(number, value):
    """A protobuf field: ints as varints, bytes / str / nested messages length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def onnx_model(opset=13, raw_bias=True, extra_node=b""):
    """Conv(x, w, b) -> y, Relu(y) -> z with the field numbers of onnx.proto."""
    w = field(1, 2) + field(1, 1) + field(1, 2) + field(1, 2) + field(2, 1) + field(8, "w")
    w += field(4, struct.pack("<8f", *[i - 3.5 for i in range(8)]))  # packed float_data
    b = field(1, 2) + field(2, 1) + field(8, "b")
    b += field(9, struct.pack("<2f", 0.25, -2.0)) if raw_bias else field(4, struct.pack("<2f", 0.25, -2.0))
    conv = field(1, "x") + field(1, "w") + field(1, "b") + field(2, "y") + field(3, "conv1") + field(4, "Conv")
    conv += field(5, field(1, "kernel_shape") + field(20, 7) + field(8, 2) + field(8, 2))
    relu = field(1, "y") + field(2, "z") + field(4, "Relu")
    graph = field(1, conv) + field(1, relu) + extra_node + field(2, "g") + field(5, w) + field(5, b)
    dims = field(1, field(2, "batch")) + b"".join(field(1, field(1, d)) for d in (1, 4, 4))
    x_type = field(1, field(1, 1) + field(2, dims))  # tensor_type: float, [batch, 1, 4, 4]
    graph += field(11, field(1, "x") + field(2, x_type)) + field(12, field(1, "z"))
    return field(1, 8) + field(8, field(2, opset)) + field(7, graph)


write("fuzz_onnx_tensor", "float-raw", field(1, 2) + field(1, 3) + field(2, 1) + field(8, "x") +
      field(9, struct.pack("<6f", *range(6))))
write("fuzz_onnx_tensor", "int64-typed", field(1, 3) + field(2, 7) + field(7, varint(1) + varint(2) + varint(3)))
write("fuzz_onnx", "conv-relu", onnx_model())
write("fuzz_onnx", "typed-bias", onnx_model(raw_bias=False))
write("fuzz_onnx", "opset-8", onnx_model(opset=8))
write("fuzz_onnx", "constant", onnx_model(extra_node=field(1, field(2, "c") + field(4, "Constant") + field(
    5, field(1, "value") + field(20, 4) + field(5, field(1, 3) + field(2, 7) + field(7, varint(1) + varint(2) + varint(3)))))))

# Models PyTorch exported (tests/data/onnx): shape arithmetic, a constant If
# with subgraphs, Gather over int64 ids.
for exported in ("alexnet", "textcnn", "inception"):
    with open(os.path.join(HERE, "..", "data", "onnx", exported, "model.onnx"), "rb") as f:
        write("fuzz_onnx", "torch-" + exported, f.read())


def png(width, height, color, seed):
    """A small PNG written with zlib alone (8-bit gray or RGB)."""
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    channels = 3 if color else 1
    rows = b"".join(b"\0" + bytes((seed * 31 + (y * width + x) * 7 + c) % 256
                                  for x in range(width) for c in range(channels))
                    for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if color else 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) +
            chunk(b"IEND", b""))


write("fuzz_image_folder", "gray-2x2", png(2, 2, False, 1))
write("fuzz_image_folder", "rgb-3x2", png(3, 2, True, 2))
write("fuzz_image_folder", "gray-5x4", png(5, 4, False, 3))
