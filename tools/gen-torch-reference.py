#!/usr/bin/python3
"""Writes tests/data/torch_reference.txt: inputs, parameters, outputs and
gradients that PyTorch computes for the cases tests/test_torch.c builds.

Needs Debian's python3-torch only to regenerate; the tests read the stored
file. Each line is `<case>/<tensor> <rank> <dims...> <values...>`; a backward
pass uses the upstream gradient `grad_out` (random, stored too).

usage: tools/gen-torch-reference.py [OUTPUT]
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)  # one summation order: the file regenerates byte for byte
torch.set_default_dtype(torch.float32)
lines = []


def put(case, name, t):
    t = t.detach().contiguous().float()
    dims = list(t.shape) if t.dim() else [1]
    values = " ".join("%.9g" % v for v in t.flatten().tolist())
    lines.append("%s/%s %d %s %s" % (case, name, len(dims), " ".join(map(str, dims)), values))


def run_module(case, module, shape, train=True, stats=False, scale=1.0):
    """Stores x (uniform in [-2 scale, 2 scale]), every state_dict tensor,
    y, grad_out, dx and param grads."""
    module.train(train)
    if stats:  # non-trivial running statistics, so eval mode tests them
        module.running_mean.uniform_(-0.5, 0.5)
        module.running_var.uniform_(0.5, 1.5)
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-1, 1)
    x = ((torch.rand(shape) * 4 - 2) * scale).requires_grad_(True)
    put(case, "x", x)
    for k, v in module.state_dict().items():
        if v.dtype.is_floating_point:
            put(case, k, v)
    y = module(x)
    g = torch.rand(y.shape) * 2 - 1
    (y * g).sum().backward()
    put(case, "y", y)
    put(case, "grad_out", g)
    put(case, "dx", x.grad)
    for k, p in module.named_parameters():
        put(case, "grad." + k, p.grad)
    if getattr(module, "running_mean", None) is not None and train:
        put(case, "after.running_mean", module.running_mean)
        put(case, "after.running_var", module.running_var)


run_module("conv2d", nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6))
run_module("conv1d", nn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2), (2, 4, 10))
run_module("conv3d", nn.Conv3d(2, 3, (2, 3, 3), stride=(1, 2, 1), padding=(1, 0, 1)), (1, 2, 4, 5, 5))
run_module("depthwise", nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False), (2, 3, 5, 5))
run_module("max_pool2d", nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 2, 7, 7))
run_module("max_pool1d", nn.MaxPool1d(3, stride=2, padding=1, dilation=2), (2, 2, 11))
run_module("max_pool3d", nn.MaxPool3d(2, stride=2, padding=1), (1, 2, 5, 4, 4))
run_module("avg_pool2d", nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False,
                                      ceil_mode=True), (1, 3, 6, 7))
run_module("avg_pool1d", nn.AvgPool1d(4, stride=3, padding=2), (2, 2, 11))
run_module("avg_pool3d", nn.AvgPool3d((2, 2, 3), stride=(1, 2, 2), padding=(1, 1, 1)), (1, 2, 3, 4, 5))
run_module("global_avg", nn.AdaptiveAvgPool2d(1), (2, 3, 5, 4))
run_module("global_max", nn.AdaptiveMaxPool3d(1), (2, 2, 3, 3, 4))
run_module("bn2d_train", nn.BatchNorm2d(3), (4, 3, 5, 5), train=True, stats=True)
run_module("bn1d_train", nn.BatchNorm1d(5, momentum=0.3, eps=1e-3), (6, 5), train=True)
run_module("bn3d_eval", nn.BatchNorm3d(2), (2, 2, 3, 3, 3), train=False, stats=True)
run_module("relu", nn.ReLU(), (3, 8))
run_module("leaky_relu", nn.LeakyReLU(0.1), (3, 8))
run_module("sigmoid", nn.Sigmoid(), (3, 8))
run_module("tanh", nn.Tanh(), (3, 8))
run_module("elu", nn.ELU(0.7), (3, 8))
run_module("linear", nn.Linear(6, 4), (5, 6))
run_module("softmax", nn.Softmax(dim=1), (3, 5, 2))

# Cross-entropy over integer labels (mean over the batch).
logits = (torch.randn(4, 6) * 2).requires_grad_(True)
labels = torch.tensor([2, 0, 5, 3])
loss = F.cross_entropy(logits, labels)
loss.backward()
put("cross_entropy", "x", logits)
put("cross_entropy", "labels", labels.float())
put("cross_entropy", "y", loss)
put("cross_entropy", "dx", logits.grad)


def run_loss(case, fn, x, target, log_input=False):
    """Stores x, the target (labels as floats), the loss, its upstream
    gradient (for reduction none) and dx."""
    x = x.clone().requires_grad_(True)
    y = fn(x, target)
    g = torch.rand(y.shape) * 2 - 1 if y.dim() else torch.tensor(1.0)
    (y * g).sum().backward()
    put(case, "x", x)
    put(case, "target", target.float())
    put(case, "y", y)
    put(case, "grad_out", g)
    put(case, "dx", x.grad)


logits = torch.randn(6, 5) * 2
labels = torch.tensor([0, 4, 2, 2, 1, 3])
ignored = torch.tensor([0, 4, -100, 2, 1, 3])
weights = torch.tensor([0.5, 2.0, 1.0, 0.25, 1.5])
put("loss_weights", "w", weights)
for red in ("mean", "sum", "none"):
    run_loss("ce_" + red, lambda x, t: F.cross_entropy(x, t, reduction=red), logits, labels)
    run_loss("ce_weighted_" + red,
             lambda x, t: F.cross_entropy(x, t, weight=weights, reduction=red), logits, labels)
    run_loss("ce_smooth_" + red,
             lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2, reduction=red), logits, ignored)
    run_loss("ce_all_" + red,
             lambda x, t: F.cross_entropy(x, t, weight=weights, label_smoothing=0.1,
                                          ignore_index=2, reduction=red), logits, labels)
    run_loss("nll_" + red,
             lambda x, t: F.nll_loss(x, t, weight=weights, reduction=red),
             F.log_softmax(logits, 1), ignored)
    pred, tgt = torch.randn(3, 4, 2), torch.rand(3, 4, 2)
    run_loss("bce_" + red, lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=red),
             pred * 3, tgt)
    run_loss("mse_" + red, lambda x, t: F.mse_loss(x, t, reduction=red), pred, tgt * 2 - 1)
    run_loss("l1_" + red, lambda x, t: F.l1_loss(x, t, reduction=red), pred, tgt * 2 - 1)
    run_loss("smooth_l1_" + red,
             lambda x, t: F.smooth_l1_loss(x, t, beta=0.5, reduction=red), pred, tgt * 2 - 1)
    run_loss("huber_" + red, lambda x, t: F.huber_loss(x, t, delta=0.8, reduction=red),
             pred * 2, tgt * 2 - 1)
    p = torch.softmax(torch.randn(4, 6), 1)
    p[0, 2] = 0.0  # 0 * log 0 counts as 0
    run_loss("kl_" + red, lambda x, t: F.kl_div(x, t, reduction=red),
             F.log_softmax(torch.randn(4, 6), 1), p)
run_loss("kl_batchmean", lambda x, t: F.kl_div(x, t, reduction="batchmean"),
         F.log_softmax(torch.randn(4, 6), 1), torch.softmax(torch.randn(4, 6), 1))


# Dense labels (PyTorch's K-dimensional case): a class per position.
def dice_loss(x, t, smooth, weights=None, ignore=-100):
    """1 - weighted mean over classes of (2 sum p t + smooth) / (sum p + sum t + smooth)."""
    p = torch.softmax(x, 1)
    keep = (t != ignore).unsqueeze(1).float()
    onehot = F.one_hot(t.clamp(min=0), x.shape[1]).movedim(-1, 1).float() * keep
    dims = [0] + list(range(2, x.dim()))
    inter = (p * onehot).sum(dims)
    card = (p * keep).sum(dims) + onehot.sum(dims)
    dice = (2 * inter + smooth) / (card + smooth)
    w = torch.ones(x.shape[1]) if weights is None else weights
    return 1 - (w * dice).sum() / w.sum()


seg = torch.randn(2, 5, 3, 4) * 2
seg_labels = torch.randint(0, 5, (2, 3, 4))
seg_ignored = seg_labels.clone()
seg_ignored[0, 1, 2] = seg_ignored[1, 0, 0] = -100
for red in ("mean", "sum", "none"):
    run_loss("ce2d_" + red, lambda x, t: F.cross_entropy(x, t, weight=weights, reduction=red),
             seg, seg_ignored)
    run_loss("nll2d_" + red, lambda x, t: F.nll_loss(x, t, reduction=red),
             F.log_softmax(seg, 1), seg_labels)
run_loss("ce1d_smooth", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1, ignore_index=2),
         torch.randn(3, 5, 6), torch.randint(0, 5, (3, 6)))
run_loss("ce3d", lambda x, t: F.cross_entropy(x, t), torch.randn(2, 5, 2, 3, 2),
         torch.randint(0, 5, (2, 2, 3, 2)))
run_loss("dice", lambda x, t: dice_loss(x, t, 1.0), seg, seg_labels)
run_loss("dice_weighted", lambda x, t: dice_loss(x, t, 0.5, weights, -100), seg, seg_ignored)
run_loss("dice1d", lambda x, t: dice_loss(x, t, 0.0), torch.randn(3, 5, 7),
         torch.randint(0, 5, (3, 7)))

# Optimizer trajectories: Linear(3, 2) + MSE from fixed weights and data,
# five steps, the parameters after each.
X, T = torch.randn(4, 3), torch.randn(4, 2) * 3
W0, B0 = torch.randn(2, 3), torch.randn(2)
put("optim_data", "x", X)
put("optim_data", "target", T)
put("optim_data", "weight", W0)
put("optim_data", "bias", B0)
optimizers = {
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.1), 0, 0),
    "sgd_momentum": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1,
                                               weight_decay=0.01), 0, 0),
    "sgd_nesterov": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                               weight_decay=1e-3), 0, 0),
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01), 0, 0),
    "adamw": (lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1), 0, 0),
    "adagrad": (lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01,
                                              initial_accumulator_value=0.1), 0, 0),
    "rmsprop": (lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9), 0, 0),
    "rmsprop_centered": (lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True,
                                                       weight_decay=0.01), 0, 0),
    "adadelta": (lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, weight_decay=0.01), 0, 0),
    "sgd_clip": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), 0.5, 0),
    "adam_l1": (lambda p: torch.optim.Adam(p, lr=0.01), 0, 0.01),
    "sgd_elastic": (lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01), 0, 0.01),
}
for name, (make, clip, l1) in optimizers.items():
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(W0)
        model.bias.copy_(B0)
    opt = make(model.parameters())
    losses = []
    for step in range(5):
        opt.zero_grad()
        loss = F.mse_loss(model(X), T)
        losses.append(loss.item())
        total = loss + l1 * sum(p.abs().sum() for p in model.parameters())
        total.backward()
        if clip:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            assert norm > clip, "the clipping case must clip"
        opt.step()
        put("optim_" + name, "weight.%d" % step, model.weight)
        put("optim_" + name, "bias.%d" % step, model.bias)
    put("optim_" + name, "loss", torch.tensor(losses))

# Learning-rate schedules: the rate used at positions 0..11.
schedules = {
    "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "multi_step": lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5, 9],
                                                                 gamma=0.3),
    "exponential": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8),
    "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.01),
    "warmup": lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4),
    "warmup_step": lambda o: torch.optim.lr_scheduler.ChainedScheduler([
        torch.optim.lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=3),
        torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5)]),
}
for name, make in schedules.items():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make(opt)
    rates = []
    for epoch in range(12):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    put("schedule_" + name, "lr", torch.tensor(rates))


class SmallNet(nn.Module):
    """conv - bn - relu - max pool - conv (stride 2) - relu - flatten - linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2)
        self.fc = nn.Linear(6 * 1 * 1, 3)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        h = F.relu(self.conv2(h))
        return self.fc(torch.flatten(h, 1))




class Blocks(nn.Module):
    """Two branches concatenated, a residual add, pooling and a classifier."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 2, 1)
        self.c = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        h = torch.cat([self.a(x), self.b(x)], dim=1)
        h = F.relu(self.c(h) + h)
        h = F.adaptive_max_pool2d(F.avg_pool2d(h, 2), 1)
        return self.fc(torch.flatten(h, 1))


def store_net(case, net, x, labels):
    loss = F.cross_entropy(net(x), labels)
    loss.backward()
    put(case, "x", x)
    put(case, "labels", labels.float())
    for k, v in net.state_dict().items():
        if v.dtype.is_floating_point:
            put(case, k, v)
    put(case, "y", loss)
    for k, p in net.named_parameters():
        put(case, "grad." + k, p.grad)


store_net("net", SmallNet(), torch.rand(3, 2, 6, 6) * 2 - 1, torch.tensor([1, 2, 0]))
store_net("blocks", Blocks(), torch.rand(2, 3, 6, 6) * 2 - 1, torch.tensor([3, 1]))

# Transposed convolution: strides, padding, output padding, dilation, groups.
run_module("conv_transpose1d", nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                                  groups=2), (2, 4, 5))
run_module("conv_transpose2d", nn.ConvTranspose2d(3, 4, (3, 2), stride=(2, 3), padding=(1, 0),
                                                  dilation=(1, 2)), (2, 3, 4, 3))
run_module("conv_transpose2d_unet", nn.ConvTranspose2d(4, 2, 2, stride=2, bias=False), (1, 4, 3, 5))
run_module("conv_transpose3d", nn.ConvTranspose3d(2, 3, (2, 3, 3), stride=(2, 1, 2),
                                                  padding=(0, 1, 1), output_padding=(1, 0, 1)),
           (1, 2, 3, 4, 3))



class Maxout(nn.Module):
    """The max over groups of k consecutive channels (no PyTorch module)."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        n, c = x.shape[:2]
        return x.view(n, c // self.k, self.k, *x.shape[2:]).max(2).values


run_module("gelu", nn.GELU(), (3, 8), scale=2)
run_module("gelu_tanh", nn.GELU(approximate="tanh"), (3, 8), scale=2)
run_module("silu", nn.SiLU(), (3, 8), scale=2)
run_module("softplus", nn.Softplus(beta=2, threshold=2.5), (3, 8), scale=1.5)
run_module("relu6", nn.ReLU6(), (3, 8), scale=4)
run_module("hardsigmoid", nn.Hardsigmoid(), (3, 8), scale=2.5)
run_module("hardswish", nn.Hardswish(), (3, 8), scale=2.5)
run_module("prelu", nn.PReLU(3), (2, 3, 4, 2))
run_module("prelu_shared", nn.PReLU(), (2, 5, 3))
run_module("maxout", Maxout(3), (2, 6, 3, 2))

# Upsampling: nearest and (bi/tri)linear, by size and by scale factor.
run_module("up_nearest1d", nn.Upsample(scale_factor=2, mode="nearest"), (2, 2, 5))
run_module("up_nearest2d", nn.Upsample(size=(7, 4), mode="nearest"), (1, 2, 5, 6))
run_module("up_nearest3d", nn.Upsample(scale_factor=(1.5, 2, 1), mode="nearest"), (1, 2, 3, 2, 3))
run_module("up_linear1d", nn.Upsample(size=9, mode="linear", align_corners=True), (2, 2, 4))
run_module("up_bilinear", nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 5))
run_module("up_bilinear_aligned", nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True),
           (1, 2, 3, 4))
run_module("up_bilinear_frac", nn.Upsample(scale_factor=(1.5, 2.5), mode="bilinear"), (1, 2, 4, 3))
run_module("up_trilinear", nn.Upsample(scale_factor=2, mode="trilinear"), (1, 2, 2, 3, 2))

# Group, layer and instance norm.
run_module("group_norm2d", nn.GroupNorm(3, 6), (2, 6, 3, 4))
run_module("group_norm1d", nn.GroupNorm(2, 4, eps=1e-3), (3, 4, 5))
run_module("layer_norm", nn.LayerNorm(10), (3, 10))
run_module("layer_norm2", nn.LayerNorm([4, 5]), (2, 3, 4, 5))
run_module("instance_norm2d", nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 5))
run_module("instance_norm1d_track", nn.InstanceNorm1d(2, track_running_stats=True, momentum=0.3),
           (2, 2, 6), train=True)
run_module("instance_norm3d_eval", nn.InstanceNorm3d(2, affine=True, track_running_stats=True),
           (2, 2, 2, 3, 2), train=False, stats=True)

# Adaptive pooling and local response normalisation.
run_module("adaptive_avg1d", nn.AdaptiveAvgPool1d(4), (2, 3, 10))
run_module("adaptive_max2d", nn.AdaptiveMaxPool2d((3, 2)), (2, 2, 7, 5))
run_module("adaptive_avg2d_keep", nn.AdaptiveAvgPool2d((7, None)), (1, 2, 5, 6))
run_module("adaptive_avg3d", nn.AdaptiveAvgPool3d((2, 3, 1)), (1, 2, 4, 5, 3))
run_module("adaptive_max3d", nn.AdaptiveMaxPool3d((3, 2, 2)), (1, 2, 4, 5, 3))
run_module("lrn", nn.LocalResponseNorm(5), (2, 7, 3, 3), scale=20)
run_module("lrn_even", nn.LocalResponseNorm(2, alpha=0.5, beta=0.6, k=2.0), (2, 5, 4))


# Tensor primitives, each as a module whose operand is a parameter "weight".
class Lambda(nn.Module):
    def __init__(self, fn, weight_shape=None):
        super().__init__()
        self.fn = fn
        if weight_shape:
            self.weight = nn.Parameter(torch.empty(weight_shape))

    def forward(self, x):
        return self.fn(self, x)


run_module("permute", Lambda(lambda m, x: x.permute(0, 2, 3, 1)), (2, 3, 4, 5))
run_module("bcast_mul", Lambda(lambda m, x: x * m.weight, (1, 4, 1, 1)), (2, 4, 3, 3))
run_module("bcast_sub", Lambda(lambda m, x: x - m.weight, (3, 1)), (2, 3, 4))
run_module("bcast_div", Lambda(lambda m, x: m.weight / (x * x + 1), (5,)), (2, 3, 5))
run_module("matmul_param", Lambda(lambda m, x: x @ m.weight, (4, 5)), (2, 3, 4))
run_module("gram", Lambda(lambda m, x: torch.bmm(x.flatten(2), x.flatten(2).transpose(1, 2)
                                                 .contiguous()) / 12), (2, 3, 3, 4))
run_module("reduce_sum", Lambda(lambda m, x: x.sum(1)), (2, 3, 4))
run_module("reduce_mean_keep", Lambda(lambda m, x: x.mean((2, 3), keepdim=True)), (2, 3, 4, 5))
run_module("reduce_max", Lambda(lambda m, x: x.amax(-1)), (3, 4, 6))
run_module("softmax_last", Lambda(lambda m, x: torch.softmax(x, -1)), (2, 3, 5))
run_module("log_softmax0", Lambda(lambda m, x: torch.log_softmax(x, 0)), (3, 4))
run_module("slice", Lambda(lambda m, x: x[:, 1:6:2]), (2, 7, 3))
run_module("pad_constant", Lambda(lambda m, x: F.pad(x, (1, 2), value=0.75)), (2, 3, 4))
run_module("pad_reflect", Lambda(lambda m, x: F.pad(x, (2, 1, 1, 2), mode="reflect")),
           (1, 2, 4, 5))
run_module("pad_replicate", Lambda(lambda m, x: F.pad(x, (3, 1), mode="replicate")), (2, 3, 5))
run_module("pad_reflect3d", Lambda(lambda m, x: F.pad(x, (1, 1, 2, 0, 1, 1), mode="reflect")),
           (1, 1, 3, 3, 4))

# Embedding with max_norm: the rows looked up are renormalised in place first.
emb = nn.Embedding(10, 4, max_norm=1.0, padding_idx=9)
with torch.no_grad():
    emb.weight.uniform_(-1, 1)
put("embedding_max_norm", "weight", emb.weight)
emb_ids = torch.tensor([[3, 1, 3, 9, 7], [2, 2, 0, 3, 5]])
emb_y = emb(emb_ids)
emb_g = torch.rand(emb_y.shape) * 2 - 1
(emb_y * emb_g).sum().backward()
put("embedding_max_norm", "ids", emb_ids.float())
put("embedding_max_norm", "y", emb_y)
put("embedding_max_norm", "grad_out", emb_g)
put("embedding_max_norm", "grad.weight", emb.weight.grad)
put("embedding_max_norm", "after.weight", emb.weight)

# Grad-CAM (Selvaraju et al. 2017): the gradient of each sample's chosen
# class score with respect to the last feature maps and the input, and the
# map relu(sum_c mean(dA_c) A_c).
class CamNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        self.features = F.relu(self.conv2(F.relu(self.conv1(x))))
        self.features.retain_grad()
        return self.fc(F.adaptive_avg_pool2d(self.features, 1).flatten(1))


cam_net = CamNet()
with torch.no_grad():
    for prm in cam_net.parameters():
        prm.uniform_(-0.5, 0.5)
cam_x = (torch.rand(2, 3, 5, 5) * 2 - 1).requires_grad_(True)
cam_class = torch.tensor([2, 0])
logits = cam_net(cam_x)
logits.gather(1, cam_class[:, None]).sum().backward()
weights = cam_net.features.grad.mean((2, 3), keepdim=True)
put("gradcam", "x", cam_x)
put("gradcam", "class", cam_class.float())
for k, v in cam_net.state_dict().items():
    put("gradcam", k, v)
put("gradcam", "features", cam_net.features)
put("gradcam", "grad.features", cam_net.features.grad)
put("gradcam", "dx", cam_x.grad)
put("gradcam", "cam", F.relu((weights * cam_net.features).sum(1)))

# Small networks of each CNN family (tests/test_networks.c builds the same
# with the same names): the loss and every parameter gradient.
class UNet(nn.Module):
    """Two levels down and up: transposed convolutions, concatenated skips,
    per-pixel classes."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.enc2 = nn.Conv2d(4, 8, 3, padding=1)
        self.bottom = nn.Conv2d(8, 16, 3, padding=1)
        self.up2 = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec2 = nn.Conv2d(16, 8, 3, padding=1)
        self.up1 = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.dec1 = nn.Conv2d(8, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        e1 = F.relu(self.bn1(self.enc1(x)))
        e2 = F.relu(self.enc2(F.max_pool2d(e1, 2)))
        b = F.relu(self.bottom(F.max_pool2d(e2, 2)))
        d2 = F.relu(self.dec2(torch.cat([self.up2(b), e2], 1)))
        d1 = F.relu(self.dec1(torch.cat([self.up1(d2), e1], 1)))
        return self.head(d1)


class TextCNN(nn.Module):
    """Kim 2014: embedding, convolutions of three widths, max over time."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(6, 4, k) for k in (2, 3, 4))
        self.fc = nn.Linear(12, 3)

    def forward(self, ids):
        e = self.emb(ids).permute(0, 2, 1)
        h = [F.adaptive_max_pool1d(F.relu(c(e)), 1) for c in self.convs]
        return self.fc(torch.flatten(torch.cat(h, 1), 1))


class AttnHead(nn.Module):
    """Convolutional features pooled by two attention heads."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.attn = nn.Linear(6, 2)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        h = F.gelu(self.conv(x)).flatten(2)  # [N, C, P]
        a = torch.softmax(torch.matmul(self.attn.weight, h) + self.attn.bias[None, :, None], 2)
        return self.fc(torch.matmul(a, h.transpose(1, 2)).flatten(1))  # [N, heads * C]


def store_family(case, net, x, labels, ignore=-100):
    """Runs in double precision: this PyTorch build's float32 backward drops
    the convolution's gradient in the attention head."""
    net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.5, 0.5)
    loss = F.cross_entropy(net(x.double() if x.dtype.is_floating_point else x), labels,
                           ignore_index=ignore)
    loss.backward()
    put(case, "x", x if x.dtype.is_floating_point else x.float())
    put(case, "labels", labels.float())
    for k, v in net.state_dict().items():
        if v.dtype.is_floating_point:
            put(case, k, v)
    put(case, "y", loss)
    for k, p in net.named_parameters():
        put(case, "grad." + k, p.grad)


seg_map = torch.randint(0, 3, (2, 8, 8))
seg_map[0, 0, :3] = -100
store_family("unet", UNet(), torch.rand(2, 1, 8, 8) * 2 - 1, seg_map)
tokens = torch.randint(1, 20, (3, 9))
tokens[0, 6:] = 0
tokens[2, 4:] = 0
store_family("textcnn", TextCNN(), tokens, torch.tensor([2, 0, 1]))
store_family("attn_head", AttnHead(), torch.rand(2, 3, 4, 4) * 2 - 1, torch.tensor([3, 1]))


# A 2-layer GCN with a mean readout over three graphs batched as one
# block-diagonal graph of 10 nodes, padded to 12: A_hat = D^-1/2 (A+I) D^-1/2.
row_ptr = [0, 2, 4, 5, 6, 8, 10, 11, 12, 13, 13]
col = [1, 2, 0, 2, 0, 4, 3, 5, 4, 6, 5, 8, 7]
node_graph = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
a_hat = torch.zeros(12, 12, dtype=torch.float64)
for i in range(10):
    a_hat[i, i] = 1
    for k in range(row_ptr[i], row_ptr[i + 1]):
        a_hat[i, col[k]] = 1
deg = a_hat.sum(1)
scale = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
a_hat = scale[:, None] * a_hat * scale[None, :]
members = torch.zeros(3, 12, dtype=torch.float64)
for i, gr in enumerate(node_graph):
    members[gr, i] = 1


class GCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.gc1 = nn.Linear(5, 8)
        self.gc2 = nn.Linear(8, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, h):
        h = F.relu(a_hat @ (h @ self.gc1.weight.T) + self.gc1.bias)  # H' = A_hat H W^T + b
        h = F.relu(a_hat @ (h @ self.gc2.weight.T) + self.gc2.bias)
        pooled = (members @ h) / members.sum(1, keepdim=True)  # mean readout
        return self.fc(pooled)


put("gcn", "row_ptr", torch.tensor(row_ptr, dtype=torch.float32))
put("gcn", "col", torch.tensor(col, dtype=torch.float32))
put("gcn", "node_graph", torch.tensor(node_graph, dtype=torch.float32))
store_family("gcn", GCN(), torch.rand(12, 5) * 2 - 1, torch.tensor([2, 0, 1]))

out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/torch_reference.txt"
with open(out, "w") as f:
    f.write("# PyTorch %s reference values, written by tools/gen-torch-reference.py\n"
            % torch.__version__)
    f.write("\n".join(lines) + "\n")
print("wrote %d tensors to %s" % (len(lines), out))
