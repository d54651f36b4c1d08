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
    write("fuzz_idx", name + ".gz", gzip.compress(images) + b"LABELS" + gzip.compress(labels))

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
