"""Relation losses (``inputs="any"``): they compare how samples of a batch relate to each other.

Each is ``loss(student, teacher, targets) -> scalar`` on logits or on features of any shape;
``(N, ...)`` inputs are flattened to ``(N, D)``. Student and teacher widths may differ, so no
adapter is needed. The teacher is always detached. With fewer samples than a relation needs
(2 for pairs, 3 for triplets) that part is 0.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from compressor_losses.common import frozen

#: Squared distances are clamped to at least this before the square root (finite gradients).
DISTANCE_EPS = 1e-12
#: Guard of the vector norms and logarithms in ``pkt`` (as in the authors' code).
PKT_EPS = 1e-7


def flatten_pair(
    name: str, student: torch.Tensor, teacher: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, ...)`` student and teacher as ``(N, D_s)`` and ``(N, D_t)`` (teacher detached)."""
    if teacher is None:
        raise ValueError(f"{name} needs the teacher's outputs")
    if student.dim() < 1 or len(student) != len(teacher):
        raise ValueError(
            f"{name} relates the samples of a batch: student {tuple(student.shape)} and "
            f"teacher {tuple(teacher.shape)} must have the same number of samples"
        )
    return student.reshape(len(student), -1), frozen(teacher).reshape(len(teacher), -1)


def _zero(x: torch.Tensor) -> torch.Tensor:
    return x.sum() * 0


def _gram_centered(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the batch-centered rows (distances and angles do not change; centering
    removes a common offset and with it most of the cancellation in ``|a|^2 + |b|^2 - 2ab``)."""
    x = x - x.mean(dim=0, keepdim=True)
    return x @ x.T


def _distances(gram: torch.Tensor) -> torch.Tensor:
    sq = gram.diagonal()
    return (sq[:, None] + sq[None, :] - 2 * gram).clamp_min(DISTANCE_EPS).sqrt()


class RKDLoss(nn.Module):
    """Park et al. 2019, "Relational Knowledge Distillation" (CVPR).

    - Distance-wise: ``psi_D(i, j) = |x_i - x_j| / mu``, ``mu`` the mean distance over the
      batch's pairs; Huber (smooth L1, delta 1) between student and teacher ``psi_D``.
    - Angle-wise: ``psi_A(i, j, k) = cos of the angle at x_j`` between ``x_i - x_j`` and
      ``x_k - x_j``; Huber between student and teacher ``psi_A``.

    The loss is ``distance_weight * L_D + angle_weight * L_A`` (paper: 1 and 2). The Huber terms
    are averaged over distinct pairs (``i != j``) and distinct triplets; the authors' code
    averages over all ``N^2`` and ``N^3`` index combinations, the degenerate ones contributing
    0, which is the same up to a factor ``(N - 1) / N`` (pairs) or ``(N-1)(N-2)/N^2``
    (triplets). The angle term costs ``O(N^3)`` memory in the batch size ``N``.
    """

    def __init__(self, distance_weight: float = 1.0, angle_weight: float = 2.0) -> None:
        super().__init__()
        if distance_weight < 0 or angle_weight < 0:
            raise ValueError("rkd weights must be >= 0")
        self.distance_weight = float(distance_weight)
        self.angle_weight = float(angle_weight)

    @classmethod
    def from_options(cls, options: Any) -> RKDLoss:
        """Build from the validated ``RKDOptions``."""
        return cls(options.distance_weight, options.angle_weight)

    @staticmethod
    def _psi_distance(gram: torch.Tensor) -> torch.Tensor:
        n = len(gram)
        off = ~torch.eye(n, dtype=torch.bool, device=gram.device)
        d = _distances(gram)[off]
        return d / d.mean().clamp_min(DISTANCE_EPS)

    @staticmethod
    def _psi_angle(gram: torch.Tensor) -> torch.Tensor:
        """Cosines ``(N, N, N)`` indexed ``[j, i, k]``, vertex ``j``; degenerate triplets too."""
        d = _distances(gram)
        g = gram
        # dot[j, i, k] = <x_i - x_j, x_k - x_j> = G_ik - G_ji - G_jk + G_jj (vertex j)
        dot = g[None, :, :] - g[:, :, None] - g[:, None, :] + g.diagonal()[:, None, None]
        return (dot / (d[:, :, None] * d[:, None, :])).clamp(-1.0, 1.0)

    @staticmethod
    def _distinct_triplets(n: int, device: torch.device) -> torch.Tensor:
        eye = torch.eye(n, dtype=torch.bool, device=device)
        return ~(eye[:, :, None] | eye[:, None, :] | eye[None, :, :])

    def parts(
        self, student: torch.Tensor, teacher: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_D, L_A)``, before the weights."""
        s, t = flatten_pair("rkd", student, teacher)
        n = len(s)
        g_s, g_t = _gram_centered(s), _gram_centered(t)
        dist = (
            F.smooth_l1_loss(self._psi_distance(g_s), self._psi_distance(g_t))
            if n >= 2
            else _zero(s)
        )
        if n >= 3:
            # A masked mean over the distinct triplets, not a boolean index: selecting the N^3
            # entries (nonzero, gather, and a scatter in the backward pass) took 70% of the
            # loss's time; degenerate triplets have finite cosines, so a 0 weight removes them.
            distinct = self._distinct_triplets(n, s.device)
            huber = F.smooth_l1_loss(self._psi_angle(g_s), self._psi_angle(g_t), reduction="none")
            angle = (huber * distinct).sum() / distinct.sum()
        else:
            angle = _zero(s)
        return dist, angle

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        dist, angle = self.parts(student, teacher)
        loss = _zero(student)
        if self.distance_weight:
            loss = loss + self.distance_weight * dist
        if self.angle_weight:
            loss = loss + self.angle_weight * angle
        return loss


class PKTLoss(nn.Module):
    """Passalis & Tefas 2018, "Learning Deep Representations with Probabilistic Knowledge
    Transfer" (ECCV).

    The cosine kernel ``K(a, b) = (cos(a, b) + 1) / 2`` between the samples of the batch, made
    into conditional probabilities ``p_{j|i} = K(x_i, x_j) / sum_{k != i} K(x_i, x_k)`` for
    ``j != i``; the loss is ``KL(p_teacher || p_student)`` per sample, averaged over the batch,
    with ``eps`` inside the logarithm. (The paper sums over samples; the authors' code averages
    over all ``N^2`` entries including ``j == i``, which is this divided by about ``N``.)
    """

    @classmethod
    def from_options(cls, options: Any) -> PKTLoss:
        """Build (the loss has no options)."""
        return cls()

    @staticmethod
    def conditional(x: torch.Tensor) -> torch.Tensor:
        """``p_{j|i}`` as an ``(N, N)`` matrix with a zero diagonal (rows sum to 1)."""
        x = x / (x.norm(dim=1, keepdim=True) + PKT_EPS)
        kernel = (x @ x.T + 1) / 2
        kernel = kernel.masked_fill(torch.eye(len(x), dtype=torch.bool, device=x.device), 0.0)
        return kernel / (kernel.sum(dim=1, keepdim=True) + PKT_EPS)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        s, t = flatten_pair("pkt", student, teacher)
        if len(s) < 2:
            return _zero(s)
        p_s, p_t = self.conditional(s), self.conditional(t)
        kl = p_t * torch.log((p_t + PKT_EPS) / (p_s + PKT_EPS))
        return kl.sum(dim=1).mean()


class SPLoss(nn.Module):
    """Tung & Mori 2019, "Similarity-Preserving Knowledge Distillation" (ICCV).

    ``G = normalize_rows(F F^T)`` for each model's ``(b, D)`` batch, and
    ``loss = |G_s - G_t|_F^2 / b^2``.
    """

    @classmethod
    def from_options(cls, options: Any) -> SPLoss:
        """Build (the loss has no options)."""
        return cls()

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        s, t = flatten_pair("sp", student, teacher)
        g_s = F.normalize(s @ s.T, dim=1)
        g_t = F.normalize(t @ t.T, dim=1)
        return (g_s - g_t).pow(2).sum() / (len(s) ** 2)
