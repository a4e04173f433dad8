"""Losses on logits. Each is ``loss(student_logits, teacher_logits, targets) -> scalar``.

``targets`` are class indices ``(N,)`` or, after mixup/cutmix, class probabilities
``(N, num_classes)``. The teacher is always detached: no gradient flows into it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from compressor_losses.common import frozen

#: Added to the standard deviation in :func:`standardize` (as in Sun et al.'s code).
STANDARDIZE_EPS = 1e-7
#: Relative guard of the Pearson correlation in :func:`pearson` (see there).
PEARSON_EPS = 1e-8


def standardize(logits: torch.Tensor, eps: float = STANDARDIZE_EPS) -> torch.Tensor:
    """Sun et al. 2024, "Logit Standardization in Knowledge Distillation": z-score each row.

    ``(z - mean(z)) / (std(z) + eps)`` over the last dimension, with the population standard
    deviation ``sqrt(mean((z - mean(z))^2))`` of the paper's definition. The result does not
    change when a row is shifted or multiplied by a positive number, so a student is asked to
    match the *shape* of the teacher's logits, not their range. A constant row (a classifier
    that outputs equal logits) becomes zeros.
    """
    mean = logits.mean(dim=-1, keepdim=True)
    std = logits.std(dim=-1, keepdim=True, correction=0)
    return (logits - mean) / (std + eps)


def class_indices(targets: torch.Tensor | None, num_classes: int, name: str) -> torch.Tensor:
    """Targets as class indices ``(N,)``; class probabilities (mixup, cutmix) give their argmax."""
    if targets is None:
        raise ValueError(f"{name} needs the labels (targets), got None")
    if targets.dim() == 2:
        targets = targets.argmax(dim=1)
    if targets.dim() != 1:
        raise ValueError(
            f"{name}: targets must be (N,) class indices or (N, C) class "
            f"probabilities, got shape {tuple(targets.shape)}"
        )
    return targets.long()


def pearson(a: torch.Tensor, b: torch.Tensor, dim: int, eps: float = PEARSON_EPS) -> torch.Tensor:
    """Pearson correlation of ``a`` and ``b`` along ``dim`` (cosine of the centered vectors).

    The guard ``eps`` is relative to each vector's size: the denominator is
    ``(|a_c| + eps |a|) (|b_c| + eps |b|)`` (``_c``: centered). An absolute guard, as in the DIST
    authors' code (``|a_c| |b_c| + 1e-8``), biases the correlation towards 0 when the vectors are
    small, which softmax probabilities are with many classes: there ``1 - pearson(p, p)`` is far
    from 0. The relative guard keeps the correlation scale-free and only matters for vectors
    that are constant to about ``eps``, whose correlation is 0.
    """
    a_c = a - a.mean(dim=dim, keepdim=True)
    b_c = b - b.mean(dim=dim, keepdim=True)
    num = (a_c * b_c).sum(dim=dim)
    den = (a_c.norm(dim=dim) + eps * a.norm(dim=dim)) * (b_c.norm(dim=dim) + eps * b.norm(dim=dim))
    return num / den.clamp_min(torch.finfo(den.dtype).tiny)


def _check_pair(name: str, student: torch.Tensor, teacher: torch.Tensor | None) -> torch.Tensor:
    if teacher is None:
        raise ValueError(f"{name} needs teacher logits")
    if student.shape != teacher.shape:
        raise ValueError(
            f"{name} compares logits of the same shape; got student "
            f"{tuple(student.shape)} and teacher {tuple(teacher.shape)}"
        )
    return frozen(teacher)


def _check_2d(name: str, logits: torch.Tensor) -> None:
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(
            f"{name} needs (N, num_classes) logits with at least 2 classes, got "
            f"shape {tuple(logits.shape)}"
        )


class _LogitLoss(nn.Module):
    """Shared: optional standardization of both models' logits."""

    name = "loss"

    def __init__(self, standardize: bool = False) -> None:
        super().__init__()
        self.standardize = bool(standardize)

    def _prepare(
        self, student: torch.Tensor, teacher: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        teacher = _check_pair(self.name, student, teacher)
        if self.standardize:
            return standardize(student), standardize(teacher)
        return student, teacher


def _temperature(temperature: float) -> float:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return float(temperature)


class KDLoss(_LogitLoss):
    """Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network".

    ``T^2 * KL(softmax(t / T) || softmax(s / T))``, averaged over the batch. The ``T^2``
    factor keeps the gradient scale independent of the temperature, so the term can be mixed
    with a cross-entropy term without retuning its weight.

    Args:
        temperature: The softmax temperature ``T`` (> 0).
        standardize: Z-score both models' logits first (:func:`standardize`).
    """

    name = "kd"

    def __init__(self, temperature: float = 4.0, standardize: bool = False) -> None:
        super().__init__(standardize)
        self.temperature = _temperature(temperature)

    @classmethod
    def from_options(cls, options: Any) -> KDLoss:
        """Build from the validated ``KDOptions``."""
        return cls(temperature=options.temperature, standardize=options.standardize)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        student, teacher = self._prepare(student, teacher)
        t = self.temperature
        log_p_student = F.log_softmax(student / t, dim=-1)
        log_p_teacher = F.log_softmax(teacher / t, dim=-1)
        return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * (
            t * t
        )


class CrossEntropyLoss(nn.Module):
    """Cross-entropy between the student's logits and the labels; ignores the teacher."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    @classmethod
    def from_options(cls, options: Any) -> CrossEntropyLoss:
        """Build from the validated ``CEOptions``."""
        return cls(label_smoothing=options.label_smoothing)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if targets is None:
            raise ValueError("ce needs the labels")
        return F.cross_entropy(student, targets, label_smoothing=self.label_smoothing)


class MSELogitsLoss(_LogitLoss):
    """Ba & Caruana 2014, "Do Deep Nets Really Need to be Deep?": regress the teacher's logits.

    Args:
        standardize: Z-score both models' logits first (:func:`standardize`).
    """

    name = "mse_logits"

    @classmethod
    def from_options(cls, options: Any) -> MSELogitsLoss:
        """Build from the validated ``MSELogitsOptions`` (``None``: defaults)."""
        return cls(standardize=getattr(options, "standardize", False))

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        student, teacher = self._prepare(student, teacher)
        return F.mse_loss(student, teacher)


def _kl_rows(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` per row, from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


class DKDLoss(_LogitLoss):
    """Zhao et al. 2022, "Decoupled Knowledge Distillation" (CVPR).

    With ``p = softmax(z / T)`` and the target class ``t``:

    - TCKD: ``KL(b_teacher || b_student)`` of the binary distributions ``b = (p_t, 1 - p_t)``;
    - NCKD: ``KL(q_teacher || q_student)`` of the distributions among the non-target classes,
      ``q_i = p_i / (1 - p_t)`` for ``i != t``.

    The loss is ``T^2 * (alpha * TCKD + beta * NCKD)``, averaged over the batch. Classical KD is
    ``TCKD + (1 - p_t^teacher) * NCKD`` (the paper's Eq. 7): a confident teacher suppresses
    NCKD, which DKD weights by ``beta`` instead.

    Everything is computed in log space (``log(1 - p_t)`` as a log-sum-exp over the non-target
    logits), so a teacher whose ``p_t`` rounds to 1 still gives a finite, exact loss.

    Args:
        alpha: TCKD weight.
        beta: NCKD weight.
        temperature: The softmax temperature ``T`` (> 0).
        standardize: Z-score both models' logits first (:func:`standardize`).
    """

    name = "dkd"

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 8.0,
        temperature: float = 4.0,
        standardize: bool = False,
    ) -> None:
        super().__init__(standardize)
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got {alpha} and {beta}")
        self.alpha, self.beta = float(alpha), float(beta)
        self.temperature = _temperature(temperature)

    @classmethod
    def from_options(cls, options: Any) -> DKDLoss:
        """Build from the validated ``DKDOptions``."""
        return cls(options.alpha, options.beta, options.temperature, options.standardize)

    @staticmethod
    def _log_parts(z: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log b, log q)``: binary target/rest and non-target log-probabilities of ``z / T``."""
        n, c = z.shape
        is_target = F.one_hot(target, c).bool()
        log_all = torch.logsumexp(z, dim=1)
        rest = z[~is_target].view(n, c - 1)
        log_rest = torch.logsumexp(rest, dim=1)
        log_b = torch.stack([z[is_target] - log_all, log_rest - log_all], dim=1)
        return log_b, rest - log_rest[:, None]

    def parts(
        self, student: torch.Tensor, teacher: torch.Tensor | None, targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample ``(T^2 * TCKD, T^2 * NCKD)``, each of shape ``(N,)``, before the weights."""
        _check_2d("dkd", student)
        student, teacher = self._prepare(student, teacher)
        target = class_indices(targets, student.shape[1], "dkd").to(student.device)
        t = self.temperature
        log_b_s, log_q_s = self._log_parts(student / t, target)
        log_b_t, log_q_t = self._log_parts(teacher / t, target)
        return _kl_rows(log_b_t, log_b_s) * (t * t), _kl_rows(log_q_t, log_q_s) * (t * t)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        tckd, nckd = self.parts(student, teacher, targets)
        return (self.alpha * tckd + self.beta * nckd).mean()


class DISTLoss(_LogitLoss):
    """Huang et al. 2022, "Knowledge Distillation from A Stronger Teacher" (NeurIPS).

    With ``Y = softmax(z / T)`` of shape ``(N, C)`` for both models:

    - inter-class relation: ``mean_i (1 - pearson(Y_s[i, :], Y_t[i, :]))``, each sample's
      class ranking;
    - intra-class relation: ``mean_j (1 - pearson(Y_s[:, j], Y_t[:, j]))``, how each class's
      probability varies across the batch (0 for a batch of one, where it is undefined).

    The loss is ``T^2 * (beta * inter + gamma * intra)``. Only correlations are matched, not the
    probabilities themselves, which is what lets a small student learn from a much stronger
    teacher.

    Args:
        beta: Inter-class weight.
        gamma: Intra-class weight.
        temperature: The softmax temperature ``T`` (> 0; the paper uses 1).
        standardize: Z-score both models' logits first (:func:`standardize`).

    Attributes:
        eps: The relative guard of the correlations (:func:`pearson`); 0 gives the exact ones.
    """

    name = "dist"

    def __init__(
        self,
        beta: float = 1.0,
        gamma: float = 1.0,
        temperature: float = 1.0,
        standardize: bool = False,
    ) -> None:
        super().__init__(standardize)
        if beta < 0 or gamma < 0:
            raise ValueError(f"beta and gamma must be >= 0, got {beta} and {gamma}")
        self.beta, self.gamma = float(beta), float(gamma)
        self.temperature = _temperature(temperature)
        self.eps = PEARSON_EPS

    @classmethod
    def from_options(cls, options: Any) -> DISTLoss:
        """Build from the validated ``DISTOptions``."""
        return cls(options.beta, options.gamma, options.temperature, options.standardize)

    def parts(
        self, student: torch.Tensor, teacher: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inter, intra)`` relation distances, before ``T^2`` and the weights."""
        _check_2d("dist", student)
        student, teacher = self._prepare(student, teacher)
        t = self.temperature
        y_s = F.softmax(student / t, dim=1)
        y_t = F.softmax(teacher / t, dim=1)
        inter = (1 - pearson(y_s, y_t, dim=1, eps=self.eps)).mean()
        if len(y_s) < 2:
            intra = y_s.sum() * 0
        else:
            intra = (1 - pearson(y_s, y_t, dim=0, eps=self.eps)).mean()
        return inter, intra

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        inter, intra = self.parts(student, teacher)
        t = self.temperature
        return (self.beta * inter + self.gamma * intra) * (t * t)
