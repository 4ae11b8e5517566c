"""Muon (chapter 4): momentum whose update is orthogonalised, for the weight matrices inside the transformer blocks.

AdamW scales every weight's step by that weight's own gradient history, one number at a time. Muon treats a
weight matrix as a whole: it keeps a momentum of the gradient (Nesterov style) and replaces it by the nearest
orthogonal matrix, ``U V^T`` where the momentum is ``U S V^T``: every direction the gradient points in moves by
the same amount, so the few directions that dominate a small model's gradients no longer drown the rest. The
orthogonalisation is five steps of a Newton-Schulz iteration, matrix products only (``orthogonalize``), so it
runs on a CPU and on a GPU alike.

Muon is for 2-D matrices that map hidden states to hidden states: the attention and feed-forward layers of each
block. Embeddings, the output layer, a copy head, norms and biases keep AdamW. ``MuonAdamW`` is one optimiser
with both kinds of parameter group (``"muon": True`` or not), so the engine's schedule, gradient clipping,
checkpoints and exact resume treat it like AdamW; ``train.build_optimizer`` builds it when
``train.optimizer=muon``. The demo measured it (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

# The quintic Newton-Schulz coefficients of Muon's authors: they push every singular value into about [0.7, 1.2]
# in five steps, fast rather than exactly to 1, which is all the update needs.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(matrix: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """About ``U V^T`` for ``matrix = U S V^T`` (same shape): every singular value moved near 1, directions kept.

    ``X <- a X + (b A + c A^2) X`` with ``A = X X^T``, from ``X = matrix / ||matrix||`` (so every singular value
    starts at most 1); done on the wide orientation, where ``A`` is the smaller square.
    """
    if matrix.dim() != 2:
        raise ValueError(f"orthogonalize needs a 2-D matrix, got shape {tuple(matrix.shape)}")
    a, b, c = NS_COEFFICIENTS
    x = matrix / (matrix.norm() + eps)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T  # (small, small)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class MuonAdamW(torch.optim.Optimizer):
    """Muon on the parameter groups marked ``"muon": True``, AdamW (decoupled weight decay) on the others.

    Muon groups: ``momentum`` buffer ``m <- momentum * m + g``, update ``orthogonalize(g + momentum * m)`` (Nesterov)
    scaled by ``sqrt(max(1, rows / cols))`` so tall matrices step as far per entry as square ones, times ``lr``;
    decoupled weight decay as AdamW's. AdamW groups: exactly ``torch.optim.AdamW`` (``betas``, ``eps``,
    bias-corrected moments). Every group's ``lr`` may differ; a scheduler scales them all alike.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.95),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.95, ns_steps: int = 5):
        if lr < 0 or not 0 <= momentum < 1 or not all(0 <= beta < 1 for beta in betas) or ns_steps < 1:
            raise ValueError(f"MuonAdamW: lr={lr}, momentum={momentum}, betas={betas}, ns_steps={ns_steps} out of range")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        ns_steps=ns_steps, muon=False)
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["muon"]:
                bad = [tuple(p.shape) for p in group["params"] if p.dim() != 2]
                if bad:
                    raise ValueError(f"Muon groups take 2-D matrices only; got shapes {bad}")

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, decay = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad, state = p.grad, self.state[p]
                if decay:
                    p.mul_(1 - lr * decay)
                if group["muon"]:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(grad)
                    buf = state["momentum_buffer"]
                    buf.mul_(group["momentum"]).add_(grad)
                    update = orthogonalize(grad.add(buf, alpha=group["momentum"]), steps=group["ns_steps"])
                    p.add_(update, alpha=-lr * max(1.0, p.shape[0] / p.shape[1]) ** 0.5)
                    continue
                beta1, beta2 = group["betas"]
                if "step" not in state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(grad)
                    state["exp_avg_sq"] = torch.zeros_like(grad)
                state["step"] += 1
                t = float(state["step"])
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (state["exp_avg_sq"] / (1 - beta2 ** t)).sqrt_().add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-lr / (1 - beta1 ** t))
        return loss
