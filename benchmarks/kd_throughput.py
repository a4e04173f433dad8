"""How fast is distillation in compressor, against a plain PyTorch loop doing the same work?

The seed networks (CNN teacher, 784-128-10 MLP student) on 4,000 of the shipped MNIST digits,
batch 128, KD at T=4 plus cross-entropy, Adam, in one process. Every arm starts from the same
student weights, runs the same number of epochs and gets one untimed warm-up epoch first (the
arms differ only as listed below); the
arms are timed in interleaved rounds (``--rounds``, the order rotating), and each figure is the
median over the rounds.

Section 1, deterministic inputs. Arms:

- ``plain, teacher every step``: what a user writes first: the teacher's forward pass under
  ``no_grad`` on every batch of every epoch.
- ``plain, teacher cached``: the same loop, but the teacher's outputs over the training split
  computed once before the first epoch and indexed by each batch's rows. **The fair arm**: it
  does the work compressor does.
- ``compressor``: :func:`compressor.training.fit`, which caches the teacher's outputs itself.

The "10x goal" compares ``compressor`` with ``plain, teacher every step``: unequal work (one
computes the teacher's outputs once, the other every epoch), and the verdict says so; the
equal-work ratio is against ``plain, teacher cached``.

Section 2, random 2-pixel shifts: the teacher must run every step on the augmented batch in
every arm. Arms: ``plain, teacher every step`` (batches in PyTorch's default layout, as a
DataLoader's collate builds them), ``plain, channels-last`` (the same loop hand-tuned to the
faster eager layout) and ``compressor`` (its teacher on TorchScript). Goal: at least 1.3x the
plain loop, from a faster teacher forward; equal work in every arm.

Usage:
    python benchmarks/kd_throughput.py [--epochs 40] [--rounds 3]

With cached outputs the one-off teacher pass is amortized over the epochs, so the total ratio
grows with the schedule; the script prints the one-off cost and the per-epoch ratio as well.
Run it on a quiet machine: every arm shares the same cores.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from compressor.data import iterate_batches
from compressor.plugin.registry import Registry
from compressor.recipe import AugmentConfig
from compressor.schemas import OptimizerConfig
from compressor.training import WeightedLoss, evaluate, fit
from compressor.training.augment import Augmenter


class _Quiet:
    def advance(self, *args, **kwargs) -> None:
        pass


def _models(registry: Registry, bundle):
    def build(name, **options):
        record = registry.get("model", name)
        return record.build(
            record.options.model_validate(options),
            input_shape=bundle.input_shape,
            num_classes=bundle.num_classes,
        )

    torch.manual_seed(0)
    teacher = build("seed_cnn", channels=[32, 64], hidden=128)
    # A short teacher training so the targets carry knowledge; not timed.
    fit(
        teacher,
        data=bundle,
        losses=[WeightedLoss("ce", 1.0, _CE(), False)],
        epochs=3,
        optimizer=OptimizerConfig(lr=2e-3),
        batch_size=128,
        eval_batch_size=512,
        device="cpu",
        seed=0,
        bar=_Quiet(),
    )
    torch.manual_seed(1)
    return teacher.eval(), build("seed_mlp", hidden=[128])


class _CE(torch.nn.Module):
    def forward(self, s, t, y):
        return F.cross_entropy(s, y)


def teacher_outputs(teacher, bundle) -> torch.Tensor:
    """The teacher's logits for every training row, in row order: computed once."""
    with torch.no_grad():
        return torch.cat([teacher(x) for _, x, _ in iterate_batches(bundle.train, 512)])


def plain_loop(
    teacher,
    student,
    bundle,
    epochs: int,
    augment: AugmentConfig | None,
    channels_last: bool = False,
    cached: bool = False,
) -> float:
    """What a user writes by hand: teacher forward under no_grad every step.

    ``channels_last`` hand-tunes it: the teacher and its batches in the channels-last layout.
    ``cached`` computes the teacher's outputs once, before the first epoch, and indexes them
    by each batch's rows (deterministic inputs only).
    """
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    augmenter = Augmenter(augment, bundle.mean, bundle.std, generator)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    teacher = copy.deepcopy(teacher).eval().to(memory_format=layout)
    outputs = teacher_outputs(teacher, bundle) if cached else None
    for _ in range(epochs):
        student.train()
        for rows, x, y in iterate_batches(bundle.train, 128, shuffle=True, generator=generator):
            x, targets = augmenter(x, y, bundle.num_classes)
            if outputs is not None:
                t = outputs[rows]
            else:
                with torch.no_grad():
                    t = teacher(x.contiguous(memory_format=layout) if channels_last else x)
            s = student(x)
            kd = F.kl_div(F.log_softmax(s / 4, 1), F.softmax(t / 4, 1), reduction="batchmean") * 16
            loss = 0.9 * kd + 0.1 * F.cross_entropy(s, targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return evaluate(student, bundle.test, 512, "cpu")


def compressor_loop(registry, teacher, student, bundle, epochs: int, augment):
    """The same distillation through compressor's fit(); returns the accuracy and the FitResult."""
    kd, ce = registry.get("loss", "kd"), registry.get("loss", "ce")
    losses = [
        WeightedLoss("kd", 0.9, kd.build(kd.options(temperature=4.0)), True),
        WeightedLoss("ce", 0.1, ce.build(ce.options()), False),
    ]
    result = fit(
        student,
        data=bundle,
        losses=losses,
        epochs=epochs,
        optimizer=OptimizerConfig(lr=1e-3, schedule="constant"),
        batch_size=128,
        eval_batch_size=512,
        device="cpu",
        seed=0,
        bar=_Quiet(),
        teachers=[teacher],
        augment=augment,
        teacher_backend="auto",
    )
    return evaluate(student, bundle.test, 512, "cpu"), result


#: The plain loop's arms: label -> keyword arguments of :func:`plain_loop`.
PLAIN_ARMS = {
    None: {
        "plain, teacher every step": {},
        "plain, teacher cached": {"cached": True},
    },
    "shift": {
        "plain, teacher every step": {},
        "plain, channels-last": {"channels_last": True},
    },
}


def time_arms(registry, teacher, student, bundle, epochs, augment, arms, rounds):
    """Every arm once untimed (one epoch), then ``rounds`` interleaved rounds of ``epochs``.

    Returns:
        Per arm: the seconds of each round, the first round's test accuracy, and the last
        compressor FitResult.
    """
    start = {k: v.clone() for k, v in student.state_dict().items()}

    def one(name: str, n_epochs: int):
        student.load_state_dict(start)
        if name == "compressor":
            return compressor_loop(registry, teacher, student, bundle, n_epochs, augment)
        return plain_loop(teacher, student, bundle, n_epochs, augment, **arms[name]), None

    names = [*arms, "compressor"]
    for name in names:  # warm-up: kernel selection, allocations, the TorchScript trace
        one(name, 1)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    accuracy: dict[str, float] = {}
    result = None
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            began = time.perf_counter()
            acc, fitted = one(name, epochs)
            seconds[name].append(time.perf_counter() - began)
            accuracy.setdefault(name, acc)
            result = fitted or result
    return seconds, accuracy, result


def report(label, seconds, accuracy, result, epochs, samples, goal) -> None:
    """Print one section: each arm's median time and accuracy, the ratios and the verdicts."""
    median = {name: statistics.median(times) for name, times in seconds.items()}
    print(f"\n{label} (median of {len(next(iter(seconds.values())))} interleaved rounds):")
    for name, value in median.items():
        spread = f"{min(seconds[name]):.2f}-{max(seconds[name]):.2f} s"
        print(
            f"  {name:26} {value:7.2f} s ({spread})  {samples / value:9,.0f} samples/s  "
            f"test accuracy {100 * accuracy[name]:.2f}%"
        )
    epoch_seconds = sum(h["seconds"] for h in result.history) / len(result.history)
    setup = median["compressor"] - sum(h["seconds"] for h in result.history)
    how = (
        "teacher outputs cached"
        if result.teacher_cached
        else f"teacher on {', '.join(result.teacher_backends) or 'torch'}"
    )
    every = median["plain, teacher every step"]
    print(
        f"  compressor: {setup:.2f} s once ({how}), then {epoch_seconds:.3f} s per epoch "
        f"({every / epochs / epoch_seconds:.1f}x the plain loop's {every / epochs:.3f} s)"
    )
    ratio = every / median["compressor"]
    verdict = "meets" if ratio >= goal else "MISSES"
    if "plain, teacher cached" in median:
        print(
            f"  vs plain, teacher every step: {ratio:.2f}x ({verdict} the {goal}x goal; unequal "
            "work: compressor computes the teacher's outputs once, that loop every epoch)"
        )
        fair = median["plain, teacher cached"] / median["compressor"]
        print(f"  vs plain, teacher cached (equal work, the fair arm): {fair:.2f}x")
    else:
        print(f"  vs plain, teacher every step: {ratio:.2f}x ({verdict} the {goal}x goal)")
        tuned = median["plain, channels-last"] / median["compressor"]
        print(f"  vs plain, channels-last (hand-tuned): {tuned:.2f}x")
    plain = accuracy["plain, teacher every step"]
    print(f"  accuracy difference {100 * (accuracy['compressor'] - plain):+.2f} points")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per arm")
    args = parser.parse_args()
    registry = Registry.load()
    mnist = registry.get("dataset", "mnist")
    bundle = mnist.build(
        mnist.options.model_validate({"val_fraction": 0.1, "test_fraction": 0.1}), seed=0
    )
    print(
        f"{len(bundle.train)} training digits, batch 128, {args.epochs} epochs, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds"
    )
    teacher, student = _models(registry, bundle)
    for label, augment, goal in (
        ("deterministic inputs", None, 10.0),
        ("random 2-pixel shifts", AugmentConfig(shift=2), 1.3),
    ):
        arms = PLAIN_ARMS[None if augment is None else "shift"]
        seconds, accuracy, result = time_arms(
            registry, teacher, student, bundle, args.epochs, augment, arms, args.rounds
        )
        samples = args.epochs * len(bundle.train)
        report(label, seconds, accuracy, result, args.epochs, samples, goal)


if __name__ == "__main__":
    main()
