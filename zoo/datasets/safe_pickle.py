"""Unpickling for data set files that are distributed as pickles (the CIFAR python batches).

`pickle.load` calls whatever global a file names, so a tampered copy could run code on the
user's machine. The CIFAR batches hold only dicts, lists, byte strings, ints and numpy
arrays; the containers come from plain opcodes and only the arrays need globals (numpy's
array reconstructor, `ndarray` and `dtype`). Every other global is refused before anything
is imported or called.

Python-2 pickles such as the official batches write byte strings with the STRING opcodes,
which `encoding="bytes"` turns into `bytes`, so `_codecs.encode` and
`copyreg._reconstructor` (what Python 3 writes for bytes and plain objects at protocol 2
or below) are not needed and stay refused.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from engine.safe_files import UnsafeFileError, open_regular
from zoo.datasets.base import DatasetError

# Ask numpy for its reconstructor rather than importing numpy.core / numpy._core by name:
# which of the two exists (or warns) depends on the numpy version.
_RECONSTRUCT = np.empty(0).__reduce__()[0]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by numpy 1.x
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by numpy 2.x
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

# What a corrupt or hostile pickle can raise while being read with only the globals above.
_CORRUPT = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    OverflowError,
    MemoryError,
    RecursionError,
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals numpy arrays need."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DatasetError(
                f"refusing to unpickle global {module}.{name}: "
                "only numpy arrays, dicts, lists, strings and numbers are allowed"
            ) from None


def load_restricted(path: str | Path, inside: str | Path | None = None, limit: int | None = None) -> object:
    """Read one pickle file with `RestrictedUnpickler`; Python-2 strings become bytes.

    The file must be a regular file (not a FIFO) of at most `limit` bytes whose symlinks,
    if any, stay inside `inside` (default: its own directory).
    """
    path = Path(path)
    try:
        with open_regular(path, inside, limit) as f:
            return RestrictedUnpickler(f, encoding="bytes").load()
    except UnsafeFileError as err:
        raise DatasetError(str(err)) from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({err})") from err
    except DatasetError as err:
        raise DatasetError(f"{path}: {err}") from None
    except _CORRUPT as err:
        raise DatasetError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from err
