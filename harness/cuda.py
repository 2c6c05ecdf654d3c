"""Fail fast where a command needs CUDA and torch sees none: the ``gpu`` preset (device "auto") and
``agentdistill bench --device cuda`` refuse to start, in one line that says how to install the CUDA
build of torch (``make install DEVICE=cuda``), instead of running on the CPU without saying so."""
from __future__ import annotations

from harness.errors import UserError

#: the command that puts the CUDA build of the pinned torch in the venv (Makefile)
INSTALL_CUDA = "make install DEVICE=cuda"


def require_cuda(what: str, instead: str = "--device cpu") -> None:
    """Raise a one-line :class:`UserError` naming ``what`` (the option or preset that asked for CUDA) when
    ``torch.cuda.is_available()`` is False: a CPU build of torch is told to install the CUDA one, a CUDA
    build that sees no device to check the driver; ``instead`` is what runs on the CPU as asked."""
    import torch

    if torch.cuda.is_available():
        return
    if torch.version.cuda is None:
        found = f"torch {torch.__version__} is a CPU build"
        fix = f"install the CUDA build with `{INSTALL_CUDA}`"
    else:
        found = f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
        fix = f"check the driver (nvidia-smi); a venv without the CUDA build: `{INSTALL_CUDA}`"
    raise UserError(f"{what} needs CUDA, and {found} (torch.cuda.is_available() is False): {fix}, "
                    f"or pass {instead} to run on the CPU")
