"""Where the course keeps its data, outputs and the optional shared datasets."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path | None:
    """The repository checkout holding this package, or None when installed from a wheel."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "chapters").is_dir() else None


def data_dir() -> Path:
    """Folder for generated and downloaded data: ``$T2SQL_DATA_DIR``, ``<repo>/data`` or ``~/.cache/t2sql/data``."""
    if os.environ.get("T2SQL_DATA_DIR"):
        return Path(os.environ["T2SQL_DATA_DIR"]).expanduser()
    root = project_root()
    return root / "data" if root else Path.home() / ".cache" / "t2sql" / "data"


def raw_data_dir() -> Path:
    """Folder for downloaded datasets (git-ignored): ``<data_dir>/raw``."""
    return data_dir() / "raw"


def outputs_dir() -> Path:
    """Folder for checkpoints, metrics and logs: ``$T2SQL_OUTPUTS_DIR`` or ``<repo>/outputs``."""
    if os.environ.get("T2SQL_OUTPUTS_DIR"):
        return Path(os.environ["T2SQL_OUTPUTS_DIR"]).expanduser()
    root = project_root()
    return root / "outputs" if root else Path.cwd() / "outputs"


def shared_dir() -> Path | None:
    """The developers' read-only ``shared/`` folder beside the checkout (``$T2SQL_SHARED_DIR`` overrides)."""
    if os.environ.get("T2SQL_SHARED_DIR"):
        path = Path(os.environ["T2SQL_SHARED_DIR"]).expanduser()
        return path if path.is_dir() else None
    root = project_root()
    if root is None:
        return None
    path = root.parent / "shared"
    return path if path.is_dir() else None


def spider_dir() -> Path | None:
    """A local Spider folder: ``$T2SQL_SPIDER_DIR``, ``<data>/raw/spider`` or ``shared/datasets/spider``."""
    candidates = []
    if os.environ.get("T2SQL_SPIDER_DIR"):
        candidates.append(Path(os.environ["T2SQL_SPIDER_DIR"]).expanduser())
    candidates.append(raw_data_dir() / "spider")
    shared = shared_dir()
    if shared is not None:
        candidates.append(shared / "datasets" / "spider")
    for path in candidates:
        if (path / "tables.json").is_file():
            return path
    return None


def use_offline_tiktoken_cache() -> Path | None:
    """Point ``TIKTOKEN_CACHE_DIR`` at the shared GPT-2 files when it is unset and they exist."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return Path(os.environ["TIKTOKEN_CACHE_DIR"])
    shared = shared_dir()
    if shared is not None and (shared / "tokenizers" / "tiktoken_cache").is_dir():
        path = shared / "tokenizers" / "tiktoken_cache"
        os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
        return path
    return None


def display_path(path: str | Path) -> str:
    """``path`` as printed to a person: relative to the checkout (``outputs/demo``), else to the working folder, else
    to the folder that holds the checkout (``shared/datasets/spider/database`` beside it), else as given. Stored
    notebook outputs then show no path of the machine that ran them."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    root = project_root()
    bases = [root, Path.cwd(), root.parent] if root is not None else [Path.cwd()]
    for base in bases:
        # as written first (a shared folder may be a link beside the checkout), then with links resolved
        for a, b in ((Path(os.path.abspath(path)), Path(os.path.abspath(base))), (path.resolve(), base.resolve())):
            try:
                return str(a.relative_to(b))
            except ValueError:
                continue
    return str(path)
