"""Typed configuration schemas, one dataclass per component.

These are plain dataclasses so that workers and tests can build them without Hydra.
`pipelines.schema` registers them in Hydra's ConfigStore; the YAML files under `conf/`
extend them. Every field is documented; fixed choices are Enums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Device(str, Enum):
    """Where a trial computes. `auto` takes the GPU Ray assigned the task, else the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class LearningRule(str, Enum):
    """How the negative phase of an RBM gradient is sampled."""

    cd = "cd"  # contrastive divergence: chains restart at the data batch every step
    pcd = "pcd"  # persistent CD: chains carry over between steps (Tieleman 2008)


class OptimizerName(str, Enum):
    sgd = "sgd"
    adam = "adam"


class LRSchedule(str, Enum):
    constant = "constant"
    cosine = "cosine"  # cosine decay to 0 over train.steps
    exponential = "exponential"  # lr·gamma^step, gamma = train.lr_decay


# ---------------------------------------------------------------------------------- model
@dataclass
class ModelConfig:
    """Base of every model config."""

    family: str = "rbm"
    """Registered family name (see `workers.families.FAMILIES`) or an import path `pkg.mod:Class`."""
    width: int = 16
    """Hidden units of an RBM, hidden width of an MLP, or the number of neurons of a Hopfield net."""


@dataclass
class RBMConfig(ModelConfig):
    """Bernoulli–Bernoulli RBM; the visible layer size is set by the data (L² for Ising)."""

    family: str = "rbm"
    width: int = 16
    init_std: float = 0.01
    """Standard deviation of the initial weights W ~ N(0, init_std²)."""


# ----------------------------------------------------------------------------------- data
@dataclass
class DataConfig:
    """Base of every data config."""

    kind: str = "ising"
    """Which data source; each family accepts the kinds it knows."""


@dataclass
class IsingDataConfig(DataConfig):
    """Monte Carlo samples of the 2D Ising model at `temperature` (J = k_B = 1)."""

    kind: str = "ising"
    L: int = 8
    """Linear lattice size; a sample has L×L spins."""
    temperature: float = 2.269
    """Temperature T of the training data, in units of J/k_B. T_c ≈ 2.269."""
    n_samples: int = 2000
    """Number of training configurations (one independent chain each)."""
    burn_in: int = 500
    """Monte Carlo sweeps before a chain is sampled."""
    algorithm: str = "metropolis"
    """Monte Carlo algorithm that generates the data."""
    cache_dir: str | None = None
    """Directory where generated samples are cached and shared by trials; None disables caching."""


@dataclass
class ClusteredDataConfig(DataConfig):
    """Binary data in clusters ±ξ_a with bit-flip noise (for the RBM training cascade)."""

    kind: str = "clustered"
    N: int = 100
    """Visible units."""
    n_samples: int = 4096
    n_modes: int = 1
    """Cluster pairs ±ξ_a."""
    flip_prob: float = 0.1


# ---------------------------------------------------------------------------------- train
@dataclass
class TrainConfig:
    """The one training loop and the optimiser."""

    steps: int = 300
    """Number of parameter updates."""
    lr: float = 1e-2
    """Learning rate of the optimiser."""
    batch_size: int = 64
    """Minibatch size."""
    optimizer: OptimizerName = OptimizerName.sgd
    momentum: float = 0.0
    """Momentum of SGD (ignored by Adam)."""
    weight_decay: float = 0.0
    """L2 penalty added by the optimiser."""
    device: Device = Device.auto
    """auto | cpu | cuda."""
    observe_every: int = 25
    """Steps between evaluations of the (more expensive) observables `obs/…`."""
    checkpoint_every: int = 200
    """Steps between checkpoints of the whole trial state (0: only the final one). Metrics are
    flushed with each checkpoint, so a retried trial resumes there without gaps or duplicates."""


@dataclass
class RBMTrainConfig(TrainConfig):
    """Training of an RBM by contrastive divergence."""

    rule: LearningRule = LearningRule.cd
    k: int = 1
    """Gibbs steps per update in CD-k / PCD-k."""
    sample_chains: int = 256
    """Chains drawn from the RBM when its observables are measured."""
    sample_steps: int = 200
    """Gibbs steps of those chains, started from uniform noise (CD). Under PCD the observables
    are measured on the persistent chains instead."""
    lr_schedule: LRSchedule = LRSchedule.constant
    lr_decay: float = 0.999
    """Per-step factor of the exponential schedule."""
    modes: int = 3
    """Top singular modes of W tracked: σ_k, and m_k, χ_k of model samples and data."""
    loglik_every: int = 0
    """Steps between log-likelihood estimates (0: off): exact when the smaller layer has
    ≤ 20 units, else AIS (Salakhutdinov & Murray 2008) with its standard error."""
    ais_chains: int = 200
    ais_betas: int = 1000


# ------------------------------------------------------------------------------- tracking
@dataclass
class TrackingConfig:
    """Where results go: an MLflow tracking store."""

    uri: str | None = None
    """Tracking URI. None: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db."""
    experiment: str = "phasesweep"
    """MLflow experiment name (an experiment file sets it to its own name)."""
    flush_every: int = 50
    """Metric steps buffered before a log_batch request (when train.checkpoint_every is 0)."""
    log_checkpoint: bool = True
    """Keep checkpoints as run artifacts (`checkpoints/last.pt`); needed to resume a retried trial."""
    checkpoint_dir: str | None = None
    """A shared path every node can reach for checkpoints instead of the run's artifact store."""
    outage_limit_s: float = 600.0
    """How long the sink retries (with backoff, spooling points locally) while the tracking
    store is unreachable before the trial fails; its spool is kept for replay."""
    spool_dir: str = ".phasesweep_spool"
    """Where unsent metric points wait during a tracking outage."""


# -------------------------------------------------------------------------------- cluster
@dataclass
class ClusterConfig:
    """Where Ray runs. With no address a local Ray instance starts on 127.0.0.1."""

    address: str | None = None
    """None: embedded local Ray (or the cluster named by $RAY_ADDRESS under `ray job submit`).
    Otherwise `auto`, `ray://host:10001` or `host:6379`."""
    num_cpus: int | None = None
    """CPUs the embedded local instance may use; None means all of this machine's."""
    num_gpus: int | None = None
    """GPUs the embedded local instance may use; None means all visible ones."""
    include_dashboard: bool = False
    """Start Ray's dashboard with the embedded instance (bound to 127.0.0.1)."""
    runtime_env: dict[str, Any] = field(default_factory=dict)
    """Ray runtime_env for the trials when connecting to a cluster. Under `ray job submit` the
    job already ships its working directory, so `working_dir` here is ignored there."""
    autoscaling: bool = False
    """The cluster adds nodes on demand: a request no alive node can serve yet only warns."""


@dataclass
class ResourcesConfig:
    """What one trial asks Ray for."""

    cpus: float = 1.0
    """CPUs per trial (fractions allowed)."""
    gpus: float = 0.0
    """GPUs per trial; fractions < 1 let trials share one GPU."""
    max_retries: int = 0
    """Times Ray re-runs a trial whose worker process or node died."""


# ------------------------------------------------------------------------- SGLD family
class BayesArch(str, Enum):
    mlp = "mlp"  # a tanh MLP classifier with a Gaussian prior (digits)
    linear = "linear"  # Bayesian linear regression, analytic posterior (synthetic data)


class StepScheduleName(str, Enum):
    constant = "constant"
    polynomial = "polynomial"  # ε_t = lr·(1 + t)^(−γ): Σε = ∞, Σε² < ∞ (Welling & Teh 2011)
    cyclical = "cyclical"  # cosine cycles, noise only late in each cycle (Zhang et al. 2020)


@dataclass
class BayesModelConfig(ModelConfig):
    """A Bayesian model sampled by SGLD."""

    family: str = "sgld"
    arch: BayesArch = BayesArch.mlp
    width: int = 100
    """Hidden units per layer of the MLP (ignored by the linear model)."""
    depth: int = 1
    """Hidden layers of the MLP."""
    prior_std: float = 1.0
    """θ ~ N(0, prior_std²) on every weight and bias."""


@dataclass
class DigitsDataConfig(DataConfig):
    """scikit-learn's bundled 8×8 digits (no download), standardised, fixed stratified split."""

    kind: str = "digits"
    test_size: float = 0.25
    split_seed: int = 0
    """Seed of the train/test split (kept fixed while `seed` varies the chain)."""


@dataclass
class RegressionDataConfig(DataConfig):
    """Synthetic linear regression y = Xw* + noise, with an analytic Gaussian posterior."""

    kind: str = "regression"
    dim: int = 5
    n: int = 200
    noise_std: float = 0.5
    """Known observation noise σ of the likelihood."""
    split_seed: int = 0
    """Seed of X, w* and the noise (kept fixed while `seed` varies the chain)."""


@dataclass
class SGLDTrainConfig(TrainConfig):
    """SGLD sampling of p_T(θ|D) ∝ exp(−U(θ)/T) (Welling & Teh 2011; Wenzel et al. 2020)."""

    steps: int = 6000
    lr: float = 1e-2
    """Langevin step ε on U(θ) = −log p(θ) − (N/n)Σ log p(y|x,θ)."""
    batch_size: int = 128
    observe_every: int = 500
    checkpoint_every: int = 1000
    temperature: float = 1.0
    """Posterior temperature T: 1 samples the Bayes posterior, T → 0 optimises (cold)."""
    schedule: StepScheduleName = StepScheduleName.constant
    gamma: float = 0.55
    """Decay exponent of the polynomial schedule, in (0.5, 1]."""
    n_cycles: int = 4
    """Cycles of the cyclical schedule."""
    burn_in: int = 2000
    """Steps before posterior samples are collected."""
    thin: int = 20
    """Steps between collected samples."""
    preconditioned: bool = False
    """pSGLD: RMSprop-preconditioned SGLD (Li et al. 2016)."""


# --------------------------------------------------------------------- Ising MC family
@dataclass
class IsingMCModelConfig(ModelConfig):
    """No learner: the Ising model itself, sampled by Monte Carlo (ground truth for the analysis)."""

    family: str = "ising_mc"
    width: int = 1


@dataclass
class MCTrainConfig(TrainConfig):
    """Monte Carlo run: each step advances every chain by `thin` sweeps and records a configuration."""

    steps: int = 200
    """Recorded configurations per chain (after data.burn_in sweeps)."""
    chains: int = 32
    """Independent chains, run in parallel."""
    thin: int = 1
    """Sweeps (or Wolff sweep-equivalents) between recorded configurations."""
    observe_every: int = 50
    checkpoint_every: int = 0


# ---------------------------------------------------------------------- Hopfield family
@dataclass
class HopfieldModelConfig(ModelConfig):
    """Hopfield network with Hebbian storage W = (1/N) Σ_μ ξ^μ ξ^μᵀ, zero diagonal."""

    family: str = "hopfield"
    width: int = 1000
    """N, the number of ±1 neurons."""


@dataclass
class PatternsDataConfig(DataConfig):
    """Random ±1 patterns to store, and the corrupted cue that dynamics start from."""

    kind: str = "patterns"
    alpha: float = 0.05
    """Load α = P/N; P = round(αN) patterns are stored. Capacity α_c ≈ 0.138 at T = 0."""
    flip_fraction: float = 0.1
    """Fraction of the target pattern's bits flipped in the starting state."""


@dataclass
class GlauberTrainConfig(TrainConfig):
    """Glauber dynamics: each step is one random-sequential sweep of all N neurons."""

    steps: int = 30
    """Sweeps."""
    temperature: float = 0.0
    """Glauber temperature T (0: deterministic sign updates)."""
    networks: int = 32
    """Independent networks (fresh patterns each), run vectorised."""
    observe_every: int = 5
    checkpoint_every: int = 0


# --------------------------------------------------------------------------- EBM family
@dataclass
class EBMModelConfig(ModelConfig):
    """An MLP energy E_θ(x) on continuous data."""

    family: str = "ebm"
    width: int = 128
    depth: int = 2


@dataclass
class Synthetic2DDataConfig(DataConfig):
    """Generated 2D data: a ring of Gaussians or two moons."""

    kind: str = "ring"
    """ring | moons"""
    n: int = 10000
    """Training points."""
    n_heldout: int = 2000
    """Held-out points for MMD."""
    mmd_bandwidth: float | None = 0.2
    """RBF bandwidth of the MMD; null: median heuristic."""


@dataclass
class LangevinSamplerConfig:
    """Short-run Langevin x ← x − (ε/2)∇E(x) + √(εT)ξ, with a replay buffer."""

    temperature: float = 0.25
    """T of the Langevin dynamics."""
    step_size: float = 0.01
    """ε."""
    steps: int = 20
    """Langevin steps per training update."""
    eval_steps: int = 200
    """Steps of the fresh chains (from uniform noise) whose samples are scored by MMD."""
    long_run_factor: int = 10
    """Long-run chains run this many times eval_steps (≥ 10 exposes non-convergent EBMs)."""
    clip: float = 3.0
    """Chains are clipped to the box [−clip, clip]^d, which is also the buffer's init box."""
    buffer_size: int = 10000
    reinit_prob: float = 0.05
    """Probability that a buffer chain restarts from uniform noise."""


@dataclass
class EBMTrainConfig(TrainConfig):
    """Contrastive maximum likelihood with replay-buffer Langevin samples (Du & Mordatch 2019)."""

    steps: int = 2000
    lr: float = 3e-3
    batch_size: int = 128
    optimizer: OptimizerName = OptimizerName.adam
    beta1: float = 0.0
    """Adam β₁ (0 is usual for EBMs)."""
    cosine_decay: bool = True
    alpha: float = 0.01
    """Energy-magnitude regulariser α·mean(E²)."""
    grad_clip: float = 1.0
    """Max gradient norm (0: off)."""
    eval_chains: int = 500
    observe_every: int = 250
    checkpoint_every: int = 500
    divergence_patience: int = 3
    """`train/divergence_flag` is set after |d_t| grew at this many consecutive logs."""


# ------------------------------------------------------------------------------ analysis
@dataclass
class AnalysisConfig:
    """What to measure: change points inside each trial, transitions across the sweep."""

    watch: list[str] = field(default_factory=list)
    """Observables (metric keys) whose change points are detected inside each trial. Watching
    a key the family does not log is an error."""
    peak: list[str] = field(default_factory=list)
    """Susceptibility-like observables whose peak along each swept axis is located."""
    steepest: list[str] = field(default_factory=list)
    """Order parameters whose steepest change along each swept axis is located."""
    binder: str | None = None
    """Observable whose curves for different system sizes cross at the transition (Binder U₄)."""
    size_axis: str = "data.L"
    """The swept key that holds the system size, for the crossing estimator."""
    n_boot: int = 500
    """Bootstrap draws for every confidence interval."""
    level: float = 0.95
    """Confidence level of the intervals."""
