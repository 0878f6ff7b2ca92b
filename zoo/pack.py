"""Packed training: K models of one architecture run as one network, and back.

A zoo holds many small models of the same few architectures; trained one at a
time, each step is a handful of small kernels and much of the time goes to
per-op overhead. `PackedNet` stacks the K members' parameters so most layers run
once for all of them: batch norm over K*C channels (each member keeps its own
running statistics), linear layers as one batched matrix product, convolutions
as one grouped convolution. No layer mixes members, so each member's gradient is
exactly its own. With `per_member=True` convolutions and linear layers instead
make one call per member, the very call the model alone makes, which keeps a
member's arithmetic bit-identical to training it alone (see PackedConv2d,
PackedLinear and zoo.fit.Kernels).

Activations travel as (B, K*C, H, W) up to the first Flatten and as (K, B, F)
after it. `unpack_into` copies the trained state back into the K original models.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

# Leaves that act on each channel (or element) alone, so K*C channels are just more channels.
CHANNELWISE = (nn.ReLU, nn.ReLU6, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Identity)


class PackedConv2d(nn.Module):
    """K convolutions over K*Cin input channels: one grouped kernel, or one call per member.

    The grouped kernel (member k owns groups k*g .. k*g+g-1) is one launch for all
    members, but oneDNN picks its algorithm by group count and channels per group,
    so on CPU a member's gradients then differ in the last bits from training it
    alone (first convs with one input channel, 1x1 convs). Per-member calls run
    exactly the kernel the model alone would; on CPU they cost a pack of 4 conv
    models 20-30% of its throughput.
    """

    def __init__(self, convs: list[nn.Conv2d], per_member: bool):
        super().__init__()
        first = convs[0]
        if first.padding_mode != "zeros":
            raise TypeError(f"cannot pack Conv2d with padding_mode={first.padding_mode!r}")
        self.members, self.per_member = len(convs), per_member
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.groups = first.groups
        self.weight = nn.Parameter(torch.cat([c.weight.detach() for c in convs]))
        bias = torch.cat([c.bias.detach() for c in convs]) if first.bias is not None else None
        self.bias = nn.Parameter(bias) if bias is not None else None

    def conv(self, x, weight, bias, groups):
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.members
        if not self.per_member or k == 1:
            return self.conv(x, self.weight, self.bias, self.groups * k)
        biases = self.bias.chunk(k) if self.bias is not None else [None] * k
        parts = zip(x.chunk(k, dim=1), self.weight.chunk(k), biases)
        return torch.cat([self.conv(part, w, b, self.groups) for part, w, b in parts], dim=1)


class PackedBatchNorm2d(nn.Module):
    """K batch norms as one over K*C channels: statistics are per channel, hence per member.

    `num_batches_tracked` keeps one count per member, so unpacking restores each
    model's own count even when members arrive with different histories.
    """

    def __init__(self, norms: list[nn.BatchNorm2d]):
        super().__init__()
        first = norms[0]
        if first.momentum is None:
            raise TypeError("cannot pack BatchNorm2d with momentum=None (a cumulative average per count)")
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = nn.Parameter(torch.cat([n.weight.detach() for n in norms])) if first.affine else None
        self.bias = nn.Parameter(torch.cat([n.bias.detach() for n in norms])) if first.affine else None
        if first.track_running_stats:
            self.register_buffer("running_mean", torch.cat([n.running_mean for n in norms]))
            self.register_buffer("running_var", torch.cat([n.running_var for n in norms]))
            self.register_buffer("num_batches_tracked", torch.stack([n.num_batches_tracked for n in norms]))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        batch_stats = self.training or self.running_mean is None
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, batch_stats, self.momentum, self.eps
        )


class PackedLinear(nn.Module):
    """K linear layers, (K, B, in) -> (K, B, out): one batched product, or one call per member.

    With more than one thread, MKL splits a lone product's reduction across threads
    but a batch's products by batch, so a member's sums depend on K unless each
    member makes its own call.
    """

    def __init__(self, linears: list[nn.Linear], per_member: bool):
        super().__init__()
        self.per_member = per_member
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in linears]))
        bias = torch.stack([m.bias.detach() for m in linears]) if linears[0].bias is not None else None
        self.bias = nn.Parameter(bias) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_member:
            biases = self.bias.unbind() if self.bias is not None else [None] * len(self.weight)
            return torch.stack([F.linear(*member) for member in zip(x.unbind(), self.weight.unbind(), biases)])
        if self.bias is None:
            return torch.bmm(x, self.weight.transpose(1, 2))
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class PackedFlatten(nn.Module):
    """Moves the members from the channel axis to the front: (B, K*C, H, W) -> (K, B, C*H*W)."""

    def __init__(self, flatten: nn.Flatten, members: int):
        super().__init__()
        if (flatten.start_dim, flatten.end_dim) != (1, -1):
            raise TypeError("can only pack nn.Flatten() over all non-batch dimensions")
        self.members = members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.members, -1).transpose(0, 1)


def pack_leaf(name: str, leaves: list[nn.Module], per_member: bool) -> nn.Module:
    """The packed counterpart of one leaf layer, built from every member's layer at that name."""
    first = leaves[0]
    if isinstance(first, CHANNELWISE):
        return copy.deepcopy(first)
    if type(first) is nn.Conv2d:
        return PackedConv2d(leaves, per_member)
    if type(first) is nn.BatchNorm2d:
        return PackedBatchNorm2d(leaves)
    if type(first) is nn.Linear:
        return PackedLinear(leaves, per_member)
    if type(first) is nn.Flatten:
        return PackedFlatten(first, len(leaves))
    raise TypeError(f"cannot pack layer {name!r} of type {type(first).__name__}")


def check_same_structure(models: list[nn.Module]) -> None:
    """Packing needs identical module trees: names, layer types and settings, tensor shapes."""

    def layout(model: nn.Module):
        modules = [(n, type(m), m.extra_repr()) for n, m in model.named_modules()]
        tensors = [(n, t.shape, t.dtype, t.device) for n, t in model.state_dict(keep_vars=True).items()]
        return modules, tensors

    reference = layout(models[0])
    for i, model in enumerate(models[1:], start=1):
        if layout(model) != reference:
            raise ValueError(f"cannot pack: model {i} differs from model 0 in structure or tensor shapes")


def packed_tree(models: list[nn.Module], per_member: bool) -> nn.Module:
    """A deep copy of models[0] with every leaf layer replaced by its packed version.

    Containers are kept: their forward (sequencing, residual additions, ReLU) is
    channel-wise, so it works unchanged on packed activations.
    """
    tree = copy.deepcopy(models[0])
    for name, module in models[0].named_modules():
        if list(module.children()):
            if module._parameters or module._buffers:
                raise TypeError(f"cannot pack {name or 'the root'} ({type(module).__name__}): it holds tensors itself")
            continue
        packed = pack_leaf(name, [m.get_submodule(name) for m in models], per_member)
        parent, _, attr = name.rpartition(".")
        setattr(tree.get_submodule(parent), attr, packed)
    return tree


class PackedNet(nn.Module):
    """K same-structure models as one network: (K, B, C, H, W) inputs -> (K, B, classes) logits.

    It adopts the packed tree's children under their own names, so "head.weight" is
    the K heads' weights stacked and callers select parameters by name as on one
    model; the tree's root object is kept, unregistered, for its forward.
    `per_member` trades the one-call convolutions and linear layers for exactness;
    `channels_last` runs conv nets in NHWC, which on CPU cuts a step by 15-45%.
    """

    def __init__(self, models: list[nn.Module], per_member: bool = False, channels_last: bool = False):
        super().__init__()
        if not models:
            raise ValueError("cannot pack an empty list of models")
        if not list(models[0].children()):
            raise TypeError(f"cannot pack a bare {type(models[0]).__name__}: wrap it in a container")
        check_same_structure(models)
        self.members = len(models)
        root = packed_tree(models, per_member)
        for name, child in root.named_children():
            self.add_module(name, child)
        object.__setattr__(self, "root", root)
        self.channels_last = channels_last and any(isinstance(m, PackedConv2d) for m in self.modules())
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> "PackedNet":
        self.root.training = mode  # the root's own flag; its children are ours and follow in super()
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members, batch = x.shape[:2]
        if members != self.members:
            raise ValueError(f"input holds {members} members' batches, the pack has {self.members} members")
        x = x.transpose(0, 1).reshape(batch, members * x.shape[2], *x.shape[3:])
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.root(x)


@torch.no_grad()
def unpack_into(packed: PackedNet, models: list[nn.Module]) -> list[nn.Module]:
    """Copy every parameter and buffer of the pack back into its K models, in place.

    Every packed tensor holds the members' tensors concatenated or stacked along
    dim 0, so member k's share is chunk k, whatever the layer.
    """
    if len(models) != packed.members:
        raise ValueError(f"the pack has {packed.members} members, got {len(models)} models")
    state = packed.state_dict()
    for k, model in enumerate(models):
        for name, tensor in model.state_dict(keep_vars=True).items():
            tensor.copy_(state[name].chunk(packed.members)[k].view_as(tensor))
    return models
