"""Which device a shard runs on, and a one-line stop when a GPU was asked for but cannot be used.

A 7B extraction that quietly falls back to the CPU would take weeks instead of hours, so ``auto``
means "the GPU if this host has one": on a host with a GPU (``CUDA_VISIBLE_DEVICES`` set by SLURM,
Kubernetes or Ray, or an NVIDIA device node) that torch cannot use, the job stops at once with a line
naming torch's CUDA build and the driver. Only a host without any GPU runs ``auto`` on the CPU.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path


class DeviceError(Exception):
    """A GPU was asked for but cannot be used; the message is one line."""


def _visible_devices() -> str | None:
    """CUDA_VISIBLE_DEVICES when it names devices ("" and "-1" hide every GPU: the CPU was asked for)."""
    v = os.environ.get("CUDA_VISIBLE_DEVICES")
    if v is None:
        return None
    v = v.strip()
    return v if v and v != "-1" and v.lower() != "nodevfiles" else ""


def gpu_present() -> bool:
    """Whether this host offers a GPU to this process, whether or not torch can use it."""
    visible = _visible_devices()
    if visible is not None:
        return visible != ""
    return any(re.fullmatch(r"nvidia\d+", p.name) for p in Path("/dev").glob("nvidia*"))


def driver_description() -> str:
    """The NVIDIA driver, from nvidia-smi or /proc, or that none was found."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=driver_version,name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            first = out.stdout.strip().splitlines()[:1]
            if out.returncode == 0 and first:
                return f"driver {first[0].strip()} (nvidia-smi)"
            why = (out.stderr or out.stdout).strip().splitlines()[:1]
            return f"nvidia-smi failed: {why[0] if why else f'exit status {out.returncode}'}"
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"nvidia-smi failed: {e}"
    try:
        line = Path("/proc/driver/nvidia/version").read_text().splitlines()[0]
        return f"driver {' '.join(line.split())} (/proc/driver/nvidia/version)"
    except (OSError, IndexError):
        return "no NVIDIA driver found (no nvidia-smi, no /proc/driver/nvidia/version)"


def _torch_reason() -> str:
    """Why torch cannot use CUDA, in torch's words (first line)."""
    import torch

    try:
        torch.cuda.init()
    except Exception as e:  # noqa: BLE001 - any failure here is the reason we report
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"torch.cuda.device_count() = {torch.cuda.device_count()}"


def cuda_build() -> str:
    """torch's version and the CUDA it was built for (torch.version.cuda)."""
    import torch

    return f"torch {torch.__version__} built for CUDA {torch.version.cuda}" if torch.version.cuda else f"torch {torch.__version__} has no CUDA build"


CPU_HINT = "use --device cpu to run on the CPU on purpose"


def unusable_gpu_message(label: str, cpu_hint: str = CPU_HINT) -> str:
    build = cuda_build()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    shown = "unset" if visible is None else repr(visible)
    return (f"{label}: a GPU was asked for but torch cannot use it: {_torch_reason()}; {build}; "
            f"{driver_description()}; CUDA_VISIBLE_DEVICES {shown} ({cpu_hint})")


def resolve_device(requested: str, label: str = "", cpu_hint: str = CPU_HINT) -> str:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> the torch device to run on. Raises DeviceError when a
    GPU is asked for (explicitly, or by ``auto`` on a host that has one) and torch cannot use it; the
    message starts with ``label`` (default ``--device REQUESTED``) and ends with ``cpu_hint``."""
    import torch

    req = requested.strip().lower()
    if req == "cpu":
        return "cpu"
    m = re.fullmatch(r"cuda(?::(\d+))?", req)
    if req != "auto" and m is None:
        raise DeviceError(f"--device {requested}: not one of auto, cpu, cuda, cuda:N")
    if req == "auto" and not gpu_present():
        return "cpu"
    if not torch.cuda.is_available():
        raise DeviceError(unusable_gpu_message(label or f"--device {requested}", cpu_hint))
    if m is not None and m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        raise DeviceError(f"--device {requested}: this process sees {torch.cuda.device_count()} GPU(s) "
                          f"(CUDA_VISIBLE_DEVICES {os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')!r})")
    return "cuda" if req == "auto" else req
