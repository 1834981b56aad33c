"""The built-in model zoo, usable by name with ``--arch`` everywhere.

* ``mlp``: 2 hidden layers, for tabular data (input shape ``(n_features,)``).
* ``lenet5``: LeNet-5 for small images ``(C, H, W)``.
* ``resnet20/32/56``: CIFAR-style ResNets (He et al. 2016, 16-32-64 channels).
* ``resnet8x4`` / ``resnet32x4``: the 4x-wide variants used by RepDistiller/mdistiller.

Importing this module imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from kdaudit.errors import UsageError

__all__ = ["ARCHS", "MLP", "BasicBlock", "CifarResNet", "LeNet5", "build_model"]


class MLP(nn.Module):
    def __init__(self, in_features: int, n_classes: int, hidden: Sequence[int] = (64, 32)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class LeNet5(nn.Module):
    def __init__(self, in_channels: int, n_classes: int, image_size: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2 if image_size == 28 else 0)
        self.conv2 = nn.Conv2d(6, 16, 5)
        side = ((image_size + (4 if image_size == 28 else 0) - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs; ``widths`` are the three stage widths."""

    def __init__(
        self,
        depth: int,
        n_classes: int,
        in_channels: int = 3,
        widths: Sequence[int] = (16, 32, 64),
        stem: int | None = None,
    ) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise UsageError(f"CIFAR ResNet depth must be 6n+2; got {depth}.")
        n = (depth - 2) // 6
        stem = stem or widths[0]
        self.conv1 = nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        layers: list[nn.Module] = []
        in_planes = stem
        for i, w in enumerate(widths):
            for j in range(n):
                layers.append(BasicBlock(in_planes, w, stride=2 if (i > 0 and j == 0) else 1))
                in_planes = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(in_planes, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def _image_dims(input_shape: Sequence[int]) -> tuple[int, int]:
    if len(input_shape) != 3:
        raise UsageError(f"Expected an image input shape (C, H, W); got {tuple(input_shape)}.")
    return int(input_shape[0]), int(input_shape[-1])


def _flat(input_shape: Sequence[int]) -> int:
    size = 1
    for s in input_shape:
        size *= int(s)
    return size


ARCHS: dict[str, Callable[[int, Sequence[int]], nn.Module]] = {
    "mlp": lambda c, s: MLP(_flat(s), c),
    "mlp-large": lambda c, s: MLP(_flat(s), c, hidden=(256, 128, 64)),
    "mlp-small": lambda c, s: MLP(_flat(s), c, hidden=(8,)),
    "lenet5": lambda c, s: LeNet5(_image_dims(s)[0], c, image_size=_image_dims(s)[1]),
    "resnet20": lambda c, s: CifarResNet(20, c, _image_dims(s)[0]),
    "resnet32": lambda c, s: CifarResNet(32, c, _image_dims(s)[0]),
    "resnet56": lambda c, s: CifarResNet(56, c, _image_dims(s)[0]),
    "resnet8x4": lambda c, s: CifarResNet(8, c, _image_dims(s)[0], widths=(64, 128, 256), stem=32),
    "resnet32x4": lambda c, s: CifarResNet(
        32, c, _image_dims(s)[0], widths=(64, 128, 256), stem=32
    ),
}


def build_model(name: str, *, n_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """Build a zoo model by name.

    Parameters
    ----------
    name : str
        One of :data:`ARCHS`.
    n_classes : int
        Output width.
    input_shape : sequence of int
        Shape of one sample after preprocessing: ``(n_features,)`` or ``(C, H, W)``.
    """
    key = (
        name.lower().replace("_", "").replace("-", "")
        if name.lower() not in ARCHS
        else name.lower()
    )
    key = {"lenet": "lenet5", "mlplarge": "mlp-large", "mlpsmall": "mlp-small"}.get(key, key)
    if key not in ARCHS:
        raise UsageError(
            f"Unknown built-in architecture {name!r}; known: {', '.join(ARCHS)}.",
            tip="Or pass --arch module:callable for your own (needs --trust-code).",
        )
    return ARCHS[key](n_classes, tuple(input_shape))
