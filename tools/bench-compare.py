#!/usr/bin/python3
"""Compares nncl-bench with the same models in PyTorch (Debian's python3-torch,
as many CPU threads as the machine has, which is what PoCL uses), in
alternating rounds: nncl, PyTorch, nncl, PyTorch, ... each side a fresh
process with the same warm-up (the first step, one more step) and the same
timed steps, so that a quiet or busy minute falls on both sides alike.
Prints each side's median over the rounds with its range, the ratio of the
medians, the machine and the versions, and a Markdown table.

usage: tools/bench-compare.py [--build DIR] [--rounds N] [--steps N] [--models a,b,...]
                              [--cold] [--device SPEC] [--torch-device cpu|cuda]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def fashion_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(h + (self.downsample(x) if self.downsample else x))


def resnet18_cifar():
    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for stage, width in enumerate([64, 128, 256, 512]):
        for b in range(2):
            layers.append(Block(cin, width, 2 if stage > 0 and b == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


def ecg1d():
    layers, cin = [], 1
    for width, k in [(16, 7), (32, 5), (64, 3)]:
        layers += [nn.Conv1d(cin, width, k, padding=k // 2), nn.BatchNorm1d(width), nn.ReLU(),
                   nn.MaxPool1d(2)]
        cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 10))


def cnn3d():
    layers, cin = [], 1
    for width in (16, 32):
        layers += [nn.Conv3d(cin, width, 3, padding=1), nn.BatchNorm3d(width), nn.ReLU(),
                   nn.MaxPool3d(2)]
        cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(32, 10))


def deconv2d():
    layers, cin = [], 32
    for width in (32, 16):
        layers += [nn.ConvTranspose2d(cin, width, 4, stride=2, padding=1), nn.BatchNorm2d(width),
                   nn.ReLU()]
        cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def unit(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """nncl-bench's unet: two levels, skips concatenated, a class per pixel."""

    def __init__(self):
        super().__init__()
        self.enc1, self.enc2, self.bottom = unit(1, 16), unit(16, 32), unit(32, 64)
        self.up2, self.dec2 = nn.ConvTranspose2d(64, 32, 2, stride=2), unit(64, 32)
        self.up1, self.dec1 = nn.ConvTranspose2d(32, 16, 2, stride=2), unit(32, 16)
        self.head = nn.Conv2d(16, 3, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottom(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], 1))
        return self.head(self.dec1(torch.cat([self.up1(d2), e1], 1)))


class TextCNN(nn.Module):
    """nncl-bench's textcnn: Kim (2014) over 64 token ids, vocabulary 1000."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(1000, 64, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(64, 64, k) for k in (3, 4, 5))
        self.fc = nn.Linear(192, 4)

    def forward(self, ids):
        e = self.embedding(ids.flatten(1)).transpose(1, 2)
        h = torch.cat([F.relu(c(e)).amax(2) for c in self.convs], 1)
        return self.fc(F.dropout(h, 0.5, self.training))


# name: (model, sample shape, batch, classes, input kind: image, dense (a
# class per pixel) or ids (token ids in [0, 1000)))
MODELS = {
    "fashion_cnn": (fashion_cnn, (1, 28, 28), 64, 10, "image"),
    "resnet18_cifar": (resnet18_cifar, (3, 32, 32), 32, 10, "image"),
    "ecg1d": (ecg1d, (1, 256), 64, 10, "image"),
    "cnn3d": (cnn3d, (1, 16, 32, 32), 64, 10, "image"),
    "deconv2d": (deconv2d, (32, 16, 16), 64, 10, "image"),
    "unet": (UNet, (1, 64, 64), 64, 3, "dense"),
    "textcnn": (TextCNN, (1, 64), 64, 4, "ids"),
}


def torch_bench(name, steps, device):
    make, shape, batch, classes, kind = MODELS[name]
    torch.manual_seed(1)
    start = time.perf_counter()
    model = make().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if kind == "ids":
        x = torch.randint(0, 1000, (batch, *shape)).to(device)
    else:
        x = (torch.rand(batch, *shape) * 2 - 1).to(device)
    y = torch.randint(0, classes, (batch, *shape[1:]) if kind == "dense" else (batch,)).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    step()
    first = time.perf_counter() - start
    step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    train = statistics.median(times)
    model.eval()
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(steps):
            t = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - t)
    infer = statistics.median(times)
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "batch": batch, "train_img_per_s": batch / train,
            "infer_img_per_s": batch / infer, "first_step_s": first}


def torch_worker(args):
    """One PyTorch measurement in its own process; prints JSON."""
    torch.set_num_threads(args.threads or os.cpu_count())
    print(json.dumps(torch_bench(args.torch_worker, args.steps, args.torch_device)))


def run_json(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), done.returncode, done.stderr))
    return json.loads(done.stdout)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def spread(values):
    return statistics.median(values), min(values), max(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per model (>= 5)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--cold", action="store_true", help="also time nncl's first step cold, once")
    ap.add_argument("--device", help="nncl's device (nncl-bench --device)")
    ap.add_argument("--torch-device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: every CPU)")
    ap.add_argument("--torch-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)
    if args.rounds < 1 or args.steps < 1:
        sys.exit("--rounds and --steps must be >= 1")
    bench = os.path.join(args.build, "tools", "nncl-bench")
    if not os.access(bench, os.X_OK):
        sys.exit("%s not found: build nncl first (cmake --build %s)" % (bench, args.build))
    worker = [sys.executable, os.path.abspath(__file__), "--steps", str(args.steps),
              "--torch-device", args.torch_device, "--threads", str(args.threads)]
    nncl_cmd = ["--steps", str(args.steps), "--json"]
    if args.device:
        nncl_cmd += ["--device", args.device]
    results = []
    for name in args.models.split(","):
        if name not in MODELS:
            sys.exit("unknown model %s (known: %s)" % (name, ", ".join(MODELS)))
        ours, theirs = [], []
        for r in range(args.rounds):
            ours.append(run_json([bench, "--model", name] + nncl_cmd))
            theirs.append(run_json(worker + ["--torch-worker", name]))
            print("%s round %d/%d: train %.1f / %.1f img/s" % (
                name, r + 1, args.rounds, ours[-1]["train_img_per_s"],
                theirs[-1]["train_img_per_s"]), file=sys.stderr, flush=True)
        if ours[0]["params"] != theirs[0]["params"]:
            sys.exit("%s: nncl has %d parameters, PyTorch %d" % (name, ours[0]["params"],
                                                                   theirs[0]["params"]))
        cold = None
        if args.cold:
            cold = run_json([bench, "--model", name, "--cold"] + nncl_cmd)["first_step_s"]
        results.append((name, ours, theirs, cold))
    report(args, results)


def report(args, results):
    where = (torch.cuda.get_device_name() if args.torch_device == "cuda"
             else "%d threads" % (args.threads or os.cpu_count()))
    print("%s, %s, %d CPUs; nncl on %s; PyTorch %s (%s), Python %s"
          % (datetime.date.today().isoformat(), cpu_name(), os.cpu_count(),
             results[0][1][0]["device"], torch.__version__, where, platform.python_version()))
    print("%d alternating rounds per model (nncl, PyTorch, ...), each the median of %d timed "
          "steps after the same warm-up; figures: median over rounds [min-max], images/s"
          % (args.rounds, args.steps))
    print()
    print("| model | batch | train nncl | train PyTorch | ratio | infer nncl | infer PyTorch "
          "| ratio | first step nncl warm%s / PyTorch |" % (" / cold" if args.cold else ""))
    print("|---|---|---|---|---|---|---|---|---|")
    for name, ours, theirs, cold in results:
        cells = []
        for key in ("train_img_per_s", "infer_img_per_s"):
            a = spread([o[key] for o in ours])
            b = spread([t[key] for t in theirs])
            ratios = [o[key] / t[key] for o, t in zip(ours, theirs)]
            cells += ["%.1f [%.1f-%.1f]" % a, "%.1f [%.1f-%.1f]" % b,
                      "%.2fx [%.2f-%.2f]" % (a[0] / b[0], min(ratios), max(ratios))]
        first = statistics.median(o["first_step_s"] for o in ours)
        tfirst = statistics.median(t["first_step_s"] for t in theirs)
        firsts = "%.2f s%s / %.2f s" % (first, " / %.1f s" % cold if cold is not None else "",
                                        tfirst)
        print("| %s | %d | %s | %s |" % (name, ours[0]["batch"], " | ".join(cells), firsts))
    print()
    for name, ours, _, _ in results:
        last = ours[-1]
        print("%s, last round: device ms per training step %s; per inference step %s; peak "
              "device memory %.1f MiB" % (name, by_kind(last, "profile_ms_per_step", "train_step_ms"),
                                          by_kind(last, "infer_profile_ms_per_step", "infer_step_ms"),
                                          last["peak_mem_bytes"] / 2**20))


def by_kind(report, field, step):
    """'<profiled> of <step>: kind ms, ...' from one nncl-bench JSON report."""
    kinds = report[field]
    parts = ", ".join("%s %.1f" % (k, v) for k, v in kinds.items() if v)
    return "%.1f of %.1f: %s" % (sum(kinds.values()), report[step], parts)


if __name__ == "__main__":
    main()
