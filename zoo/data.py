"""The splits of one data set as tensors on one device, shared by every step a worker runs."""
from __future__ import annotations

import torch

from zoo.datasets import DatasetError, Splits, load_splits


class DataBundle:
    def __init__(self, splits: Splits, device: torch.device | str = "cpu", pools: dict[str, str] | None = None):
        self.name = splits.name
        self.pools = dict(pools or {})  # other data sets' local copies an attack may draw images from
        self._pooled: dict[str, torch.Tensor] = {}
        self.input_shape = splits.input_shape
        self.num_classes = splits.num_classes
        self.device = torch.device(device)
        self._x = {k: torch.as_tensor(v.x, device=self.device) for k, v in splits.parts.items()}
        self._y = {k: torch.as_tensor(v.y, device=self.device) for k, v in splits.parts.items()}

    @classmethod
    def load(cls, name: str, root: str | None = None, device="cpu", pools: dict[str, str] | None = None) -> "DataBundle":
        return cls(load_splits(name, root), device, pools)

    def pool_split(self, name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of one of another data set's splits (`[dataset] pools`), e.g. a transfer task's data."""
        splits = self._pool_splits(name)
        return (torch.as_tensor(splits[split].x, device=self.device),
                torch.as_tensor(splits[split].y, device=self.device))

    def _pool_splits(self, name: str):
        if name not in self.pools:
            raise DatasetError(f"images from {name!r} need its local copy: set [dataset] pools = "
                               f"{{ {name} = \"/path/to/{name}\" }}")
        splits = load_splits(name, self.pools[name])
        if tuple(splits.input_shape) != tuple(self.input_shape):
            raise DatasetError(f"{name} images are {tuple(splits.input_shape)}, the run's {self.name} "
                               f"images {tuple(self.input_shape)}: they cannot be used together")
        return splits

    def pool(self, name: str) -> torch.Tensor:
        """Every image of another data set (`[dataset] pools`), e.g. CIFAR-100 as a CIFAR-10
        attacker's queries; it must have this data set's input shape."""
        if name not in self._pooled:
            splits = self._pool_splits(name)
            images = torch.cat([torch.as_tensor(part.x) for part in splits.parts.values()])
            self._pooled[name] = images.to(self.device)
        return self._pooled[name]

    def x(self, split: str) -> torch.Tensor:
        return self._x[split]

    def y(self, split: str) -> torch.Tensor:
        return self._y[split]
