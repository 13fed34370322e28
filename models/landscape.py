"""Curvature of a loss landscape from matrix-free products: the sharpness and the NTK's top eigenvalue.

Both are top eigenvalues of symmetric operators that are never formed, found by power iteration on their
products with a vector (`top_eigenvalue`):

* **Sharpness** λ = λ_max(∇²L(θ)), from Hessian-vector products (double backward, Pearlmutter 1994).
  Gradient descent at step size η is stable on a quadratic iff ηλ < 2; Cohen et al. (arXiv:2103.00065)
  find full-batch GD sharpening progressively until λ ≈ 2/η, then hovering there (the edge of stability).
* **λ₀ of the NTK.** For L(θ) = (1/2n) Σᵢ ‖f(xᵢ; θ) − yᵢ‖² the Gauss–Newton part of the Hessian is
  G = (1/n) JᵀJ with J = ∂f/∂θ (all n·k outputs stacked), and its nonzero spectrum equals that of the
  empirical NTK Θ = (1/n) J Jᵀ (an n·k × n·k matrix). The operator u ↦ (1/n) J(Jᵀu) is one vector-Jacobian
  and one Jacobian-vector product (`torch.func.vjp`, `torch.func.jvp`). Lewkowycz et al. (arXiv:2003.02218)
  put the lazy → catapult transition of GD at η·λ₀ = 2 with λ₀ so normalised.

Power iteration converges to the eigenvalue of largest magnitude. For G and Θ (positive semi-definite) that
is the top one. For a Hessian with a negative eigenvalue larger in magnitude than the top positive one it
would be that negative one; early in training and at the edge of stability the positive outlier dominates
(Sagun et al. 2017; Cohen et al.), and the returned Rayleigh quotient keeps its sign, so such a case shows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Vector = tuple[torch.Tensor, ...]


def _dot(a: Vector, b: Vector) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b, strict=True))


def top_eigenvalue(
    matvec: Callable[[Vector], Vector],
    like: Vector,
    *,
    iters: int = 100,
    tol: float = 1e-5,
    start: Vector | None = None,
    generator: torch.Generator | None = None,
) -> tuple[float, Vector]:
    """The dominant eigenvalue of the symmetric operator `matvec` on tensors shaped like `like`, and its
    unit eigenvector: power iteration until the Rayleigh quotient changes by less than `tol` (relative),
    or `iters` products. `start` warm-starts it (the previous step's eigenvector, which is why a sharpness
    tracked along training needs only a few products per measurement)."""
    if start is None:
        start = tuple(torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device) for t in like)
    v = start
    norm = _dot(v, v).sqrt()
    v = tuple(x / norm for x in v)
    value = float("nan")
    for _ in range(max(1, iters)):
        w = tuple(x.detach() for x in matvec(v))
        new = float(_dot(v, w))
        norm = _dot(w, w).sqrt()
        if not torch.isfinite(norm) or norm == 0:
            return new, v
        v = tuple(x / norm for x in w)
        if abs(new - value) <= tol * abs(new):
            return new, v
        value = new
    return value, v


def sharpness(loss: Callable[[], torch.Tensor], params: list[torch.Tensor], **kwargs) -> tuple[float, Vector]:
    """λ_max of the Hessian of `loss()` with respect to `params` (tensors with requires_grad), from
    Hessian-vector products; keyword arguments go to `top_eigenvalue`."""
    grads = torch.autograd.grad(loss(), params, create_graph=True)

    def hvp(v: Vector) -> Vector:
        return torch.autograd.grad(grads, params, v, retain_graph=True)

    return top_eigenvalue(hvp, tuple(p.detach() for p in params), **kwargs)


def ntk_top_eigenvalue(
    f: Callable[..., torch.Tensor], params: tuple[torch.Tensor, ...], n: int, **kwargs
) -> tuple[float, Vector]:
    """λ₀ = λ_max((1/n) J Jᵀ) for the outputs `f(*params)` (shape (n, …)) of `n` examples: the top
    eigenvalue of the Gauss–Newton matrix of L = (1/2n) Σ ‖f − y‖² (see the module docstring)."""
    out, pullback = torch.func.vjp(f, *params)

    def ntk(u: Vector) -> Vector:
        back = pullback(u[0])  # Jᵀu, one tensor per parameter
        _, forward = torch.func.jvp(f, params, back)
        return (forward / n,)

    return top_eigenvalue(ntk, (out.detach(),), **kwargs)
