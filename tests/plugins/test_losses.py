"""Built-in losses against independent reference computations (value and gradient)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from compressor_losses.logit import STANDARDIZE_EPS, standardize
from pydantic import ValidationError

from compressor.schemas import LossTerm


def _build(registry, name: str, **options):
    record = registry.get("loss", name)
    return record.build(record.options.model_validate(options))


def _reference_kd(student: torch.Tensor, teacher: torch.Tensor, t: float) -> torch.Tensor:
    # Written out by hand: sum_j p_j (log p_j - log q_j), averaged over rows, times T^2.
    total = torch.zeros(())
    for s_row, t_row in zip(student, teacher, strict=True):
        p = torch.exp(t_row / t) / torch.exp(t_row / t).sum()
        q = torch.exp(s_row / t) / torch.exp(s_row / t).sum()
        total = total + (p * (p.log() - q.log())).sum()
    return total / len(student) * t * t


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0, 20.0])
def test_kd_matches_reference_value_and_gradient(registry, temperature: float) -> None:
    torch.manual_seed(0)
    student = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(5, 7, dtype=torch.float64) * 3
    loss = _build(registry, "kd", temperature=temperature)(student, teacher, None)
    reference_student = student.detach().clone().requires_grad_(True)
    reference = _reference_kd(reference_student, teacher, temperature)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-9)
    loss.backward()
    reference.backward()
    assert torch.allclose(student.grad, reference_student.grad, atol=1e-10)
    # The known closed form of the gradient: T * (q - p) / batch.
    p = torch.softmax(teacher / temperature, 1)
    q = torch.softmax(student.detach() / temperature, 1)
    assert torch.allclose(student.grad, temperature * (q - p) / 5, atol=1e-10)


def test_kd_is_zero_when_student_equals_teacher(registry) -> None:
    logits = torch.randn(8, 10)
    assert _build(registry, "kd", temperature=3.0)(logits, logits.clone(), None).abs().item() < 1e-6


def test_kd_does_not_backpropagate_into_the_teacher(registry) -> None:
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3, requires_grad=True)
    _build(registry, "kd")(student, teacher, None).backward()
    assert teacher.grad is None and student.grad is not None


def test_ce_matches_reference(registry) -> None:
    torch.manual_seed(1)
    logits = torch.randn(6, 4, dtype=torch.float64)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    expected = (
        -sum(
            math.log(math.exp(row[y]) / sum(math.exp(v) for v in row))
            for row, y in zip(logits.tolist(), targets.tolist(), strict=True)
        )
        / 6
    )
    assert _build(registry, "ce")(logits, None, targets).item() == pytest.approx(expected, rel=1e-9)
    smoothed = _build(registry, "ce", label_smoothing=0.2)(logits, None, targets).item()
    assert smoothed != pytest.approx(expected)


def test_mse_logits_matches_reference_and_is_zero_on_agreement(registry) -> None:
    student = torch.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 2.0], [3.0, 1.0]])
    loss = _build(registry, "mse_logits")(student, teacher, None)
    assert loss.item() == pytest.approx((1 + 0 + 0 + 16) / 4)
    loss.backward()
    assert torch.allclose(student.grad, 2 * (student.detach() - teacher) / 4)
    assert _build(registry, "mse_logits")(teacher, teacher, None).item() == 0.0


def test_loss_records_say_whether_they_need_a_teacher(registry) -> None:
    assert registry.get("loss", "kd").needs_teacher
    assert registry.get("loss", "mse_logits").needs_teacher
    assert not registry.get("loss", "ce").needs_teacher
    assert LossTerm(name="kd").weight == 1.0


# --- shared helpers -----------------------------------------------------------------------------


def _value_and_grad(fn, student: torch.Tensor, *args) -> tuple[float, torch.Tensor]:
    """``fn(student, *args)`` and its gradient to ``student``, on a fresh leaf copy."""
    leaf = student.detach().clone().requires_grad_(True)
    value = fn(leaf, *args)
    value.backward()
    return value.item(), leaf.grad


def _assert_matches(
    loss, reference, student, *args, rel: float = 1e-9, atol: float = 1e-10
) -> None:
    """Implementation and independent reference agree in value and in gradient."""
    value, grad = _value_and_grad(loss, student, *args)
    ref_value, ref_grad = _value_and_grad(reference, student, *args)
    assert value == pytest.approx(ref_value, rel=rel, abs=atol)
    assert torch.allclose(grad, ref_grad, rtol=max(rel, 1e-7), atol=atol), (
        (grad - ref_grad).abs().max()
    )


def _softmax_rows(z: torch.Tensor) -> torch.Tensor:
    # exp / sum in probability space, row by row (the implementations work in log space).
    return torch.stack([torch.exp(row - row.max()) / torch.exp(row - row.max()).sum() for row in z])


# --- records and options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("kd", "logits"),
        ("ce", "logits"),
        ("mse_logits", "logits"),
        ("dkd", "logits"),
        ("dist", "logits"),
        ("fitnet", "features"),
        ("at", "features"),
        ("rkd", "any"),
        ("pkt", "any"),
        ("sp", "any"),
    ],
)
def test_each_loss_record_says_what_it_compares(registry, name: str, inputs: str) -> None:
    record = registry.get("loss", name)
    assert record.inputs == inputs
    assert record.needs_teacher == (name != "ce")
    assert record.description and record.options.__doc__


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("kd", {"temperature": 0}),
        ("kd", {"temperature": -1}),
        ("dkd", {"temperature": 0}),
        ("dist", {"temperature": 0.0}),
        ("dkd", {"alpha": -0.1}),
        ("dkd", {"beta": -1}),
        ("dkd", {"alpha": 0, "beta": 0}),
        ("dist", {"beta": -1}),
        ("dist", {"gamma": -1}),
        ("dist", {"beta": 0, "gamma": 0}),
        ("rkd", {"distance_weight": -1}),
        ("rkd", {"angle_weight": -2}),
        ("rkd", {"distance_weight": 0, "angle_weight": 0}),
        ("at", {"p": 0.5}),
        ("kd", {"temprature": 4}),
        ("mse_logits", {"temperature": 4}),
        ("fitnet", {"p": 2}),
        ("sp", {"eps": 1}),
    ],
)
def test_options_are_validated(registry, name: str, options: dict) -> None:
    with pytest.raises(ValidationError):
        registry.get("loss", name).options.model_validate(options)


def test_defaults_follow_the_papers(registry) -> None:
    options = {name: registry.get("loss", name).options() for name in ("dkd", "dist", "rkd", "at")}
    assert (options["dkd"].alpha, options["dkd"].beta, options["dkd"].temperature) == (
        1.0,
        8.0,
        4.0,
    )
    assert (options["dist"].beta, options["dist"].gamma, options["dist"].temperature) == (
        1.0,
        1.0,
        1.0,
    )
    assert (options["rkd"].distance_weight, options["rkd"].angle_weight) == (1.0, 2.0)
    assert options["at"].p == 2.0
    assert not any(
        registry.get("loss", n).options().standardize for n in ("kd", "dkd", "dist", "mse_logits")
    )


def test_loss_terms_are_wired_to_what_the_loss_compares(registry) -> None:
    def problems(**term):
        parsed = LossTerm.model_validate(term)
        return parsed.check(registry.get("loss", parsed.name))

    assert problems(name="kd") == []
    assert problems(name="kd", student="features.3", teacher="features.6")
    assert (
        problems(name="fitnet", student="features.3", teacher="features.6", adapter="conv1x1") == []
    )
    assert problems(name="at")  # a feature loss without module paths
    assert problems(name="rkd") == []
    assert problems(name="rkd", student="hidden.1", teacher="classifier.2") == []


@pytest.mark.parametrize(
    "name", ["kd", "mse_logits", "dkd", "dist", "fitnet", "at", "rkd", "pkt", "sp"]
)
def test_no_gradient_reaches_the_teacher(registry, name: str) -> None:
    torch.manual_seed(2)
    shape = (6, 3, 4, 4) if registry.get("loss", name).inputs == "features" else (6, 5)
    student = torch.randn(*shape, requires_grad=True)
    teacher = torch.randn(*shape, requires_grad=True)
    _build(registry, name)(student, teacher, torch.arange(6) % 5).backward()
    assert teacher.grad is None and student.grad is not None and student.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("name", "standardize"),
    [(n, False) for n in ("kd", "mse_logits", "dkd", "dist", "rkd", "pkt", "sp")]
    + [(n, True) for n in ("kd", "mse_logits", "dkd", "dist")],
)
def test_logit_and_relation_losses_are_zero_when_student_equals_teacher(
    registry, name: str, standardize: bool
) -> None:
    torch.manual_seed(3)
    options = {"standardize": True} if standardize else {}
    logits = torch.randn(16, 10) * 4
    value = _build(registry, name, **options)(logits, logits.clone(), torch.arange(16) % 10)
    assert abs(value.item()) < 1e-5


# --- logit standardization (Sun et al. 2024) -----------------------------------------------------


def test_standardize_matches_a_numpy_z_score() -> None:
    x = torch.randn(4, 9, dtype=torch.float64) * 5 + 2
    a = x.numpy()
    expected = (a - a.mean(1, keepdims=True)) / (a.std(1, keepdims=True) + STANDARDIZE_EPS)
    assert np.allclose(standardize(x).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(standardize(torch.full((2, 5), 3.0)), torch.zeros(2, 5))


@pytest.mark.parametrize("name", ["kd", "dkd", "dist", "mse_logits"])
def test_standardize_ignores_shift_and_scale_of_either_model(registry, name: str) -> None:
    torch.manual_seed(4)
    student = torch.randn(8, 6, dtype=torch.float64)
    teacher = torch.randn(8, 6, dtype=torch.float64) * 2
    targets = torch.arange(8) % 6
    loss = _build(registry, name, standardize=True)
    base = loss(student, teacher, targets).item()
    assert base > 1e-3
    assert loss(3 * student + 5, teacher, targets).item() == pytest.approx(base, rel=1e-6)
    assert loss(student, 0.5 * teacher - 7, targets).item() == pytest.approx(base, rel=1e-6)
    plain = _build(registry, name)
    assert plain(3 * student + 5, teacher, targets).item() != pytest.approx(
        plain(student, teacher, targets).item(), rel=1e-3
    )


def test_standardized_kd_is_kd_of_z_scored_logits(registry) -> None:
    torch.manual_seed(5)
    student = torch.randn(5, 7, dtype=torch.float64)
    teacher = torch.randn(5, 7, dtype=torch.float64) * 3

    def z(x: torch.Tensor) -> torch.Tensor:  # population std, as in the paper's definition
        centered = x - x.mean(1, keepdim=True)
        return centered / ((centered**2).mean(1, keepdim=True).sqrt() + 1e-7)

    _assert_matches(
        _build(registry, "kd", temperature=2.0, standardize=True),
        lambda s, t, y: _reference_kd(z(s), z(t), 2.0),
        student,
        teacher,
        None,
        rel=1e-9,
        atol=1e-9,
    )


# --- dkd (Zhao et al. 2022) ----------------------------------------------------------------------


def _reference_dkd(s, t, y, alpha, beta, temp):
    # Probability space, sample by sample, straight from the paper's definitions.
    total = torch.zeros((), dtype=s.dtype)
    ps, pt = _softmax_rows(s / temp), _softmax_rows(t / temp)
    for i, target in enumerate(y.tolist()):
        others = [j for j in range(s.shape[1]) if j != target]
        bs = torch.stack([ps[i, target], ps[i, others].sum()])
        bt = torch.stack([pt[i, target], pt[i, others].sum()])
        tckd = sum(bt[k] * torch.log(bt[k] / bs[k]) for k in range(2))
        qs, qt = ps[i, others] / ps[i, others].sum(), pt[i, others] / pt[i, others].sum()
        nckd = sum(qt[k] * torch.log(qt[k] / qs[k]) for k in range(len(others)))
        total = total + alpha * tckd + beta * nckd
    return total / len(y) * temp**2


@pytest.mark.parametrize(
    ("alpha", "beta", "temperature"), [(1.0, 8.0, 4.0), (0.5, 2.0, 1.0), (1.0, 0.0, 2.0)]
)
def test_dkd_matches_reference_value_and_gradient(registry, alpha, beta, temperature) -> None:
    torch.manual_seed(6)
    student = torch.randn(6, 5, dtype=torch.float64) * 2
    teacher = torch.randn(6, 5, dtype=torch.float64) * 3
    targets = torch.tensor([0, 1, 2, 3, 4, 2])
    _assert_matches(
        _build(registry, "dkd", alpha=alpha, beta=beta, temperature=temperature),
        lambda s, t, y: _reference_dkd(s, t, y, alpha, beta, temperature),
        student,
        teacher,
        targets,
    )


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_dkd_parts_reassemble_classical_kd(registry, temperature: float) -> None:
    """The paper's Eq. 7: KD = TCKD + (1 - p_t^teacher) * NCKD, per sample."""
    torch.manual_seed(7)
    student = torch.randn(9, 6, dtype=torch.float64) * 2
    teacher = torch.randn(9, 6, dtype=torch.float64) * 3
    targets = torch.randint(0, 6, (9,))
    dkd = _build(registry, "dkd", alpha=1.0, beta=1.0, temperature=temperature)
    tckd, nckd = dkd.parts(student, teacher, targets)
    p_target = torch.softmax(teacher / temperature, 1).gather(1, targets[:, None]).squeeze(1)
    kd = _build(registry, "kd", temperature=temperature)
    per_sample = torch.stack([kd(student[i : i + 1], teacher[i : i + 1]) for i in range(9)])
    assert torch.allclose(tckd + (1 - p_target) * nckd, per_sample, rtol=1e-10, atol=1e-12)
    assert kd(student, teacher).item() == pytest.approx(
        (tckd + (1 - p_target) * nckd).mean().item(), rel=1e-10
    )
    # alpha = beta = 1 is NOT KD: it drops the (1 - p_t) weight on NCKD.
    assert dkd(student, teacher, targets).item() > kd(student, teacher).item()


def test_dkd_reads_mixed_labels_by_their_largest_class(registry) -> None:
    torch.manual_seed(8)
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    labels = torch.tensor([1, 4, 0, 2])
    mixed = 0.7 * torch.nn.functional.one_hot(labels, 5) + 0.3 * torch.nn.functional.one_hot(
        labels.flip(0), 5
    )
    dkd = _build(registry, "dkd")
    assert dkd(student, teacher, mixed).item() == pytest.approx(
        dkd(student, teacher, labels).item()
    )
    with pytest.raises(ValueError, match="needs the labels"):
        dkd(student, teacher, None)


def test_dkd_is_exact_for_a_confident_teacher_in_float32(registry) -> None:
    # 1 - p_t rounds to 0 in float32 at this margin: probability-space code takes log(0).
    teacher = torch.zeros(4, 10)
    teacher[:, 0] = 40.0
    assert (1 - torch.softmax(teacher, 1)[:, 0] == 0).all()
    student = torch.randn(4, 10, requires_grad=True)
    targets = torch.zeros(4, dtype=torch.long)
    dkd = _build(registry, "dkd", temperature=1.0)
    value = dkd(student, teacher, targets)
    value.backward()
    assert torch.isfinite(student.grad).all()
    exact = dkd(student.detach().double(), teacher.double(), targets).item()
    assert value.item() == pytest.approx(exact, rel=1e-5)


# --- dist (Huang et al. 2022) --------------------------------------------------------------------


def _reference_dist_value(s, t, beta, gamma, temp) -> float:
    ys = torch.softmax(s / temp, 1).numpy()
    yt = torch.softmax(t / temp, 1).numpy()
    inter = np.mean([1 - np.corrcoef(ys[i], yt[i])[0, 1] for i in range(len(ys))])
    intra = np.mean([1 - np.corrcoef(ys[:, j], yt[:, j])[0, 1] for j in range(ys.shape[1])])
    return float((beta * inter + gamma * intra) * temp**2)


def _reference_dist(s, t, y, beta, gamma, temp):
    # Pearson as cov / (sigma sigma) from raw moments, no guard (a different formula).
    def rho(a, b):  # along the last dimension
        cov = (a * b).mean(-1) - a.mean(-1) * b.mean(-1)
        var_a = (a * a).mean(-1) - a.mean(-1) ** 2
        var_b = (b * b).mean(-1) - b.mean(-1) ** 2
        return cov / torch.sqrt(var_a * var_b)

    ys, yt = _softmax_rows(s / temp), _softmax_rows(t / temp)
    inter = (1 - rho(ys, yt)).mean()
    intra = (1 - rho(ys.T, yt.T)).mean()
    return (beta * inter + gamma * intra) * temp**2


@pytest.mark.parametrize(
    ("beta", "gamma", "temperature"), [(1.0, 1.0, 1.0), (2.0, 0.5, 4.0), (1.0, 0.0, 2.0)]
)
def test_dist_matches_reference_value_and_gradient(registry, beta, gamma, temperature) -> None:
    torch.manual_seed(9)
    student = torch.randn(7, 6, dtype=torch.float64) * 2
    teacher = torch.randn(7, 6, dtype=torch.float64) * 3
    loss = _build(registry, "dist", beta=beta, gamma=gamma, temperature=temperature)
    assert loss(student, teacher, None).item() == pytest.approx(
        _reference_dist_value(student, teacher, beta, gamma, temperature), rel=1e-7
    )
    guarded = loss(student, teacher, None).item()
    loss.eps = 0.0  # the exact correlation; the guard only moves it by ~1e-8 |a| / |a_c|
    assert loss(student, teacher, None).item() == pytest.approx(guarded, rel=1e-7)
    _assert_matches(
        loss,
        lambda s, t, y: _reference_dist(s, t, y, beta, gamma, temperature),
        student,
        teacher,
        None,
        rel=1e-9,
        atol=1e-10,
    )


def test_dist_is_zero_at_agreement_even_with_many_classes(registry) -> None:
    # With 1,000 classes most probabilities are tiny; an absolute guard in the Pearson
    # denominator (the authors' code: |a||b| + 1e-8) makes 1 - pearson(p, p) about 0.5 here.
    torch.manual_seed(10)
    logits = torch.randn(64, 1000) * 10
    assert _build(registry, "dist")(logits, logits.clone(), None).item() < 1e-5


def test_dist_ignores_the_intra_class_term_for_a_batch_of_one(registry) -> None:
    student, teacher = torch.randn(1, 5), torch.randn(1, 5)
    inter, intra = _build(registry, "dist").parts(student, teacher)
    assert intra.item() == 0.0 and inter.item() > 0


@pytest.mark.parametrize(
    "name", ["kd", "mse_logits", "dkd", "dist", "fitnet", "at", "rkd", "pkt", "sp"]
)
def test_a_teacher_computed_in_inference_mode_is_accepted(registry, name: str) -> None:
    # The training loop runs the teacher under torch.inference_mode() when it is not cached.
    torch.manual_seed(11)
    shape = (6, 3, 4, 4) if registry.get("loss", name).inputs == "features" else (6, 5)
    with torch.inference_mode():
        teacher = torch.randn(*shape)
    student = torch.randn(*shape, requires_grad=True)
    _build(registry, name)(student, teacher, torch.arange(6) % 5).backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()
