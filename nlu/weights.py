"""Reads a BERT checkpoint's tensors into NumPy arrays, without PyTorch.

The Rasa environment (Python 3.10) has no PyTorch: the only CPU build on this machine is for
Python 3.11, and any other pulls gigabytes of CUDA. A sentence-transformers folder keeps its
weights as ``model.safetensors`` (read with ``safetensors.numpy``) or as ``pytorch_model.bin``
(m3e-small), which is PyTorch's zip format: ``data.pkl`` names each tensor's storage, dtype,
offset, shape and strides, and ``data/<key>`` holds the storage's raw little-endian bytes.

The pickle is read by an unpickler that knows only the five names such a file uses and refuses
every other one, so a tampered checkpoint cannot run code (plain ``pickle.load`` would).
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The checkpoint is missing, not in a format this reader knows, or asks for code."""


class _StorageType:
    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...], *_: Any) -> np.ndarray:
    if not size:
        return storage[offset].copy()
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride))
    return np.ascontiguousarray(view)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _TorchUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _StorageType(_DTYPES[name])
        raise CheckpointError(f"the checkpoint asks for {module}.{name}, which a weights file "
                              "never needs; refusing to load it")

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unknown persistent id in the checkpoint: {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unknown storage type in the checkpoint: {storage_type!r}")
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}/data/{key}")
            self._storages[key] = np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder("<"))
        return self._storages[key]


def read_torch_zip(path: Path) -> dict[str, np.ndarray]:
    """The state dict of a PyTorch zip checkpoint (``torch.save`` since 1.6) as NumPy arrays."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a PyTorch zip checkpoint (older pickle-only "
                              "checkpoints are not supported: save it again as safetensors)")
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise CheckpointError(f"{path} holds {len(pickles)} data.pkl entries, expected one")
        prefix = pickles[0][: -len("/data.pkl")]
        with archive.open(pickles[0]) as handle:
            state = _TorchUnpickler(handle, archive, prefix).load()
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    return {str(k): np.asarray(v) for k, v in state.items()}


def read_weights(folder: Path) -> dict[str, np.ndarray]:
    """A model folder's tensors: ``model.safetensors`` if present, else ``pytorch_model.bin``."""
    safetensors = folder / "model.safetensors"
    if safetensors.is_file():
        from safetensors.numpy import load_file

        return load_file(str(safetensors))
    checkpoint = folder / "pytorch_model.bin"
    if checkpoint.is_file():
        return read_torch_zip(checkpoint)
    raise CheckpointError(f"{folder} has neither model.safetensors nor pytorch_model.bin")
