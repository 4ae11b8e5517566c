"""Versions and hardware, printed at the top of every chapter."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

PACKAGES = ("torch", "tiktoken", "sqlglot", "pandas", "matplotlib", "datasets")


def versions() -> dict[str, str]:
    """Python and the course's main packages, with their installed versions."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_summary() -> str:
    """One line: the accelerator PyTorch will use, or the CPU and its thread count."""
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return f"cuda: {props.name}, {props.total_memory / 1024**3:.0f} GiB"
    return f"cpu: {torch.get_num_threads()} threads"


def show_versions() -> None:
    """Print versions, the device and the preset the chapters run (``config.course_preset``)."""
    from .config import course_preset

    for name, version in versions().items():
        print(f"{name:<11} {version}")
    print(f"{'device':<11} {device_summary()}")
    print(f"{'preset':<11} {course_preset().name}  (set T2SQL_PRESET to change)")
    sys.stdout.flush()
