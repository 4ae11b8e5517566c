"""Several GPUs or machines with ``torchrun`` and PyTorch DDP: process-group set-up and small helpers.

``torchrun --nproc_per_node=N -m t2sql_lib.train_cli ...`` starts N copies of the same program and tells
each its place through environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``).
``setup_distributed`` reads them; without them (a notebook, ``python -m``) it returns a one-process
``DistEnv`` and every helper here becomes a no-op, so the training loop has one code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: its rank among ``world_size`` processes and the device it drives."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None  # None: no process group (a single process)

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, shows progress and writes checkpoints; the others only train."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether a process group is running (more than one process)."""
        return self.backend is not None


def launched_by_torchrun() -> bool:
    """Whether ``torchrun`` (or another launcher setting the same variables) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def setup_distributed(backend: str | None = None, device: str | torch.device | None = None) -> DistEnv:
    """Join the process group when launched by ``torchrun``; otherwise describe a single process.

    ``backend`` defaults to NCCL on GPUs and gloo on CPUs. Each process drives GPU ``LOCAL_RANK`` of its
    machine. Calling it again once the group is up returns the same description.
    """
    if not launched_by_torchrun():
        return DistEnv(device=torch.device(device) if device is not None else default_device())
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0))
    world_size = int(os.environ["WORLD_SIZE"])
    dev = torch.device(device) if device is not None else default_device()
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)  # NCCL uses the current device; without this every rank shares GPU 0
    backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistEnv(rank=rank, local_rank=local_rank, world_size=world_size, device=dev,
                   backend=dist.get_backend())


def cleanup_distributed() -> None:
    """Leave the process group (at the end of a ``torchrun`` program)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait until every process gets here."""
    if env.distributed:
        dist.barrier()


def all_reduce_sum(value: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """The sum of ``value`` over all processes (a new tensor; ``value`` itself when alone)."""
    if not env.distributed:
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def all_gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process (pickled; for small things)."""
    if not env.distributed:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, env: DistEnv, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process (pickled; for small things such as a metrics dict)."""
    if not env.distributed:
        return obj
    box = [obj if env.rank == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap_ddp(model: nn.Module, env: DistEnv) -> nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` when several processes train, else itself.

    DDP copies rank 0's weights to the other ranks at construction and averages the gradients across
    ranks during ``backward``, so every rank applies the same update.
    """
    if not env.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [env.device.index] if env.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model
