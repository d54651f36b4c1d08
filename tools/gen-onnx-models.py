#!/usr/bin/python3
"""Writes the ONNX models the test suite imports (tests/data/onnx/<name>/):
small networks of the families the course shows (VGG-, AlexNet-, ResNet-
and Inception-style classifiers, a U-Net level, a TextCNN over token ids, a
1D and a 3D network), exported by PyTorch's torch.onnx.export (opset 13,
batch dim symbolic), each with an input and PyTorch's output in
ONNX's test-data layout (input_0.pb, output_0.pb), so that nncl-run
--compare checks nncl against PyTorch. Needs Debian's python3-torch and
python3-onnx only to regenerate them; deterministic (fixed seeds, one
thread). The classifier also gets a loss and gradients on fixed labels
(labels.pb, loss.pb, grad.<parameter>.pb) for a fine-tuning check."""
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "onnx")


class Classifier(nn.Module):
    """AlexNet / VGG style at toy width: conv-BN-ReLU-pool blocks, a head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, stride=1), nn.BatchNorm2d(16), nn.LeakyReLU(0.1),
            nn.AvgPool2d(2), nn.Conv2d(16, 16, 3, padding=1, groups=4), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.pool(self.features(x)))


class Residual(nn.Module):
    """A ResNet basic block with a projection, then global pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.down = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)) + self.down(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


class UNet(nn.Module):
    """One level: down, up by transposed convolution, skip concatenation."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
        self.down = nn.MaxPool2d(2)
        self.mid = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 1))

    def forward(self, x):
        e = self.enc(x)
        return self.dec(torch.cat([self.up(self.mid(self.down(e))), e], 1))


class Signal1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(2, 8, 7, padding=3), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(8, 8, 5, padding=2, dilation=1), nn.Sigmoid(), nn.AdaptiveMaxPool1d(1),
            nn.Flatten(), nn.Linear(8, 3), nn.Softmax(dim=1))

    def forward(self, x):
        return self.net(x)


class Volume3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(1, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(), nn.MaxPool3d(2),
            nn.Conv3d(4, 8, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
            nn.Linear(8, 2))

    def forward(self, x):
        return self.net(x)


class AlexNet(nn.Module):
    """AlexNet at toy width: large strided kernels, local response
    normalisation, overlapping max pooling, a dropout head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU(), nn.LocalResponseNorm(5),
            nn.MaxPool2d(3, stride=2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, stride=2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * 3 * 3, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class Inception(nn.Module):
    """A GoogLeNet module (1x1, 1x1-3x3, 1x1-5x5 and pool-1x1 branches
    concatenated) between a stem and a pooled head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b3 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(8, 2, 1))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        h = self.stem(x)
        h = torch.relu(torch.cat([self.b1(h), self.b3(h), self.b5(h), self.bp(h)], 1))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


class TextCNN(nn.Module):
    """Kim (2014): embedded token ids (Gather), convolutions of widths 3
    and 4 over time, max over time, a linear head."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv1d(8, 6, k) for k in (3, 4)])
        self.fc = nn.Linear(12, 2)

    def forward(self, ids):
        e = self.embed(ids).permute(0, 2, 1)
        pooled = [torch.relu(c(e)).amax(dim=2) for c in self.convs]
        return self.fc(torch.cat(pooled, 1))


MODELS = {
    "classifier": (Classifier, (2, 3, 16, 16), True),
    "residual": (Residual, (2, 4, 8, 8), True),
    "unet": (UNet, (1, 1, 8, 8), False),
    "signal1d": (Signal1d, (2, 2, 32), False),
    "volume3d": (Volume3d, (1, 1, 8, 8, 8), False),
    "alexnet": (AlexNet, (2, 3, 32, 32), False),
    "inception": (Inception, (2, 3, 12, 12), False),
    "textcnn": (TextCNN, (2, 12), False),
}


def randomise_bn(model, gen):
    """Running statistics away from 0 and 1, so that using them is tested."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=gen) - 0.5)


def training_reference(model, x):
    """Cross-entropy of the (eval-mode) classifier on fixed labels, and its
    gradient for every parameter of the first convolution and the head:
    what fine-tuning the imported model must reproduce."""
    labels = torch.tensor([3, 7])
    model.eval()
    model.zero_grad()
    loss = nn.functional.cross_entropy(model(x), labels)
    loss.backward()
    return [("labels", labels.float()), ("loss", loss.detach().reshape(1)),
            ("grad.features.0.weight", model.features[0].weight.grad),
            ("grad.head.2.weight", model.head[2].weight.grad),
            ("grad.head.2.bias", model.head[2].bias.grad)]


def main():
    for name, (cls, shape, keep_bn) in MODELS.items():
        torch.manual_seed(1)
        gen = torch.Generator().manual_seed(2)
        model = cls().eval()
        with torch.no_grad():
            randomise_bn(model, gen)
            if cls is TextCNN:  # token ids, some of them the padding id
                x = torch.randint(0, 20, shape, generator=gen)
            else:
                x = torch.rand(shape, generator=gen) * 2 - 1
            y = model(x)
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.onnx")
        # TRAINING keeps BatchNormalization (EVAL folds it into the convs):
        # the exported graph is what one fine-tunes, run here in eval mode.
        # The batch dim left symbolic, as for models meant to be fine-tuned:
        # the exporter then writes the shape arithmetic around Flatten.
        torch.onnx.export(model, x, path, opset_version=13, input_names=["input"],
                          output_names=["output"], do_constant_folding=False,
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                          training=torch.onnx.TrainingMode.TRAINING if keep_bn else
                          torch.onnx.TrainingMode.EVAL)
        exported = onnx.load(path)
        onnx.checker.check_model(exported)
        # A training-mode export runs the model once in training mode, moving
        # the running statistics: the reference output uses the file's values.
        state = model.state_dict()
        with torch.no_grad():
            for t in exported.graph.initializer:
                if t.name in state:
                    state[t.name].copy_(torch.from_numpy(numpy_helper.to_array(t).copy()))
            model.eval()
            y = model(x)
        tensors = [("input_0", x), ("output_0", y)]
        if name == "classifier":
            tensors += training_reference(model, x)
        for kind, t in tensors:
            keep_ints = kind == "input_0" and cls is TextCNN
            tensor = numpy_helper.from_array(
                t.numpy().astype(np.int64 if keep_ints else np.float32), kind)
            with open(os.path.join(d, kind + ".pb"), "wb") as f:
                f.write(tensor.SerializeToString())
        print(name, tuple(y.shape), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
