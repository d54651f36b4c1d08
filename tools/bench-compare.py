#!/usr/bin/python3
"""Runs nncl-bench and the same models in PyTorch (Debian's python3-torch,
as many CPU threads as the machine has, which is what PoCL uses) in one run,
and prints each figure side by side with the ratio nncl / PyTorch.

usage: tools/bench-compare.py [--build DIR] [--steps N] [--models a,b,...] [--cold]
                              [--device SPEC] [--torch-device cpu|cuda]
"""
import argparse
import json
import os
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


MODELS = {
    "fashion_cnn": (fashion_cnn, (1, 28, 28), 64),
    "resnet18_cifar": (resnet18_cifar, (3, 32, 32), 32),
    "ecg1d": (ecg1d, (1, 256), 64),
    "cnn3d": (cnn3d, (1, 16, 32, 32), 64),
}


def torch_bench(name, steps, device):
    make, shape, batch = MODELS[name]
    torch.manual_seed(1)
    start = time.perf_counter()
    model = make().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = (torch.rand(batch, *shape) * 2 - 1).to(device)
    y = torch.randint(0, 10, (batch,)).to(device)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--cold", action="store_true", help="also time nncl's first step cold")
    ap.add_argument("--device", help="nncl's device (nncl-bench --device)")
    ap.add_argument("--torch-device", default="cpu", choices=("cpu", "cuda"))
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    bench = os.path.join(args.build, "tools", "nncl-bench")
    rows = []
    for name in args.models.split(","):
        cmd = [bench, "--model", name, "--steps", str(args.steps), "--json"]
        if args.device:
            cmd += ["--device", args.device]
        ours = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        if args.cold:
            cold = json.loads(subprocess.run(cmd + ["--cold"], check=True, capture_output=True,
                                             text=True).stdout)
            ours["first_step_cold_s"] = cold["first_step_s"]
        theirs = torch_bench(name, args.steps, args.torch_device)
        if ours["params"] != theirs["params"]:
            sys.exit("%s: nncl has %d parameters, PyTorch %d" % (name, ours["params"],
                                                                   theirs["params"]))
        rows.append((name, ours, theirs))
    where = (torch.cuda.get_device_name() if args.torch_device == "cuda"
             else "%d threads" % torch.get_num_threads())
    print("nncl on %s vs PyTorch %s (%s), median of %d steps"
          % (rows[0][1]["device"], torch.__version__, where, args.steps))
    print("%-15s %5s | %21s | %21s | %s" % ("model", "batch", "train img/s nncl/torch",
                                           "infer img/s nncl/torch", "first step s nncl/torch"))
    for name, ours, theirs in rows:
        cold = " (cold %.1f)" % ours["first_step_cold_s"] if "first_step_cold_s" in ours else ""
        print("%-15s %5d | %7.1f %7.1f %5.2fx | %7.1f %7.1f %5.2fx | %.2f%s / %.2f"
              % (name, ours["batch"], ours["train_img_per_s"], theirs["train_img_per_s"],
                 ours["train_img_per_s"] / theirs["train_img_per_s"], ours["infer_img_per_s"],
                 theirs["infer_img_per_s"], ours["infer_img_per_s"] / theirs["infer_img_per_s"],
                 ours["first_step_s"], cold, theirs["first_step_s"]))
    for name, ours, _ in rows:
        total = sum(ours["profile_ms_per_step"].values())
        parts = ", ".join("%s %.1f" % (k, v) for k, v in ours["profile_ms_per_step"].items() if v)
        print("%s device ms per training step (%.1f of %.1f): %s"
              % (name, total, ours["train_step_ms"], parts))
        print("%s peak device memory: %.1f MiB" % (name, ours["peak_mem_bytes"] / 2**20))


if __name__ == "__main__":
    main()
