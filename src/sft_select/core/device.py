"""What the machine offers: whether there is a GPU for the steps that prefer one."""
from __future__ import annotations

import os
import shutil


def gpu_available() -> bool:
    """Whether torch sees a CUDA (or ROCm) device. Importing torch takes seconds, so a machine with neither
    driver (no /proc/driver/nvidia, no nvidia-smi, no /dev/kfd) is answered without it."""
    if not any(os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/kfd")) and shutil.which("nvidia-smi") is None:
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False
