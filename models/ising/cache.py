"""An on-disk cache of Ising samples shared by the trials of a sweep.

Public through `models.ising`, which re-exports every name here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from enum import Enum
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX: atomic writes still hold, only the lock is lost
    fcntl = None


from models.ising.checks import Algorithm, check_algorithm, check_chains, check_int, check_temperature
from models.ising.sampler import sample

logger = logging.getLogger("models.ising")


class CacheStatus(str, Enum):
    """What `cached_sample_with_status` did."""

    loaded = "loaded"
    generated = "generated"
    regenerated = "regenerated"  # a corrupt file was found, warned about and replaced


class _CorruptCache(Exception):
    pass


_CACHE_FORMAT = 1


def _checksum(spins: torch.Tensor) -> str:
    return hashlib.sha256(spins.contiguous().numpy().tobytes()).hexdigest()


def _read_cache(path: Path, params: str, shape: tuple[int, int, int]) -> torch.Tensor:
    """The spins stored at `path`, or _CorruptCache saying why they cannot be trusted."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated or garbled files raise many different errors
        raise _CorruptCache(f"unreadable ({type(err).__name__}: {err})") from err
    if not isinstance(blob, dict) or blob.get("format") != _CACHE_FORMAT:
        raise _CorruptCache("not a phasesweep Ising cache file")
    spins = blob.get("spins")
    if blob.get("params") != params:
        raise _CorruptCache(f"parameters {blob.get('params')} differ from the requested {params}")
    if not isinstance(spins, torch.Tensor) or spins.dtype != torch.int8 or tuple(spins.shape) != shape:
        got = (getattr(spins, "dtype", type(spins)), tuple(getattr(spins, "shape", ())))
        raise _CorruptCache(f"expected int8 spins of shape {shape}, got {got}")
    if blob.get("sha256") != _checksum(spins):
        raise _CorruptCache("checksum mismatch")
    if not bool(((spins == 1) | (spins == -1)).all()):
        raise _CorruptCache("spins are not all ±1")
    return spins


def _write_atomic(path: Path, blob: dict) -> None:
    """torch.save to a temporary file in the same directory, fsync, then os.replace onto `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(blob, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _FileLock:
    """An exclusive advisory lock (fcntl.flock) on `path`; released by the kernel if we die."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> _FileLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def ensure_cache_dir(cache_dir: str | os.PathLike) -> Path:
    """Create `cache_dir` if needed; OSError / PermissionError with a message saying how to fix."""
    d = Path(cache_dir).expanduser()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(
            f"cache_dir {str(d)!r} cannot be created ({err.strerror or err}); "
            "point data.cache_dir at a writable directory, or set it to None to disable caching"
        ) from err
    if not os.access(d, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cache_dir {str(d)!r} is not writable; point data.cache_dir at a writable directory, "
            "or set it to None to disable caching"
        )
    return d


def cached_sample_with_status(
    cache_dir: str | os.PathLike,
    L: int,
    T: float,
    n_samples: int,
    *,
    algorithm: str | Algorithm = "metropolis",
    burn_in: int = 500,
    thin: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    chains: int | None = None,
) -> tuple[torch.Tensor, CacheStatus]:
    """`sample(...)` generated once per parameter set and stored under `cache_dir`.

    The key is (L, T, n_samples, algorithm, burn_in, thin, seed, chains); the device is not part
    of it (any device's samples are equally valid; the file records which one made them).
    Concurrent callers are safe: a per-key flock lets one process generate while the others
    wait and then read, and the file appears by an atomic os.replace, so nobody reads a half-
    written file. A file that fails to load, has the wrong shape/parameters or a SHA-256
    mismatch is reported with a warning and regenerated, never used.

    Returns the spins (on `device`) and whether they were loaded, generated or regenerated.
    """
    L = check_int("L", L, 2)
    T = check_temperature(T)
    n_samples = check_int("n_samples", n_samples, 1)
    algorithm = check_algorithm(algorithm)
    burn_in, thin = check_int("burn_in", burn_in, 0), check_int("thin", thin, 1)
    seed, chains = int(seed), check_chains(chains, n_samples)
    params = json.dumps(
        dict(L=L, T=T, n_samples=n_samples, algorithm=algorithm.value, burn_in=burn_in, thin=thin,
             seed=seed, chains=chains),
        sort_keys=True,
    )
    digest = hashlib.sha256(params.encode()).hexdigest()[:16]
    d = ensure_cache_dir(cache_dir)
    path = d / f"ising_L{L}_T{T:.6g}_{algorithm.value}_n{n_samples}_{digest}.pt"
    shape = (n_samples, L, L)

    try:  # fast path without the lock: files only ever appear whole
        spins = _read_cache(path, params, shape)
        logger.info("loaded Ising samples from %s", path)
        return spins.to(device), CacheStatus.loaded
    except _CorruptCache:
        pass  # missing or corrupt: decide under the lock, another process may be writing it

    with _FileLock(d / f"{path.name}.lock"):
        status = CacheStatus.generated
        if path.exists():
            try:
                spins = _read_cache(path, params, shape)
                logger.info("loaded Ising samples from %s", path)
                return spins.to(device), CacheStatus.loaded
            except _CorruptCache as err:
                warnings.warn(f"Ising cache file {path} is corrupt ({err}); regenerating it", stacklevel=2)
                status = CacheStatus.regenerated
        spins = sample(L, T, n_samples, algorithm=algorithm, burn_in=burn_in, thin=thin, seed=seed,
                       device=device, chains=chains)
        cpu = spins.cpu().contiguous()
        blob = dict(format=_CACHE_FORMAT, params=params, spins=cpu, sha256=_checksum(cpu),
                    generated_on=str(torch.device(device)))
        _write_atomic(path, blob)
        logger.info("%s Ising samples into %s", status.value, path)
        return spins, status


def cached_sample(
    cache_dir: str | os.PathLike,
    L: int,
    T: float,
    n_samples: int,
    *,
    algorithm: str | Algorithm = "metropolis",
    burn_in: int = 500,
    thin: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    chains: int | None = None,
) -> torch.Tensor:
    """`cached_sample_with_status(...)` without the status: int8 spins (n_samples, L, L)."""
    return cached_sample_with_status(
        cache_dir, L, T, n_samples, algorithm=algorithm, burn_in=burn_in, thin=thin, seed=seed,
        device=device, chains=chains,
    )[0]


