"""How fast is distillation in compressor, against a plain PyTorch loop doing the same work?

The seed networks (CNN teacher, 784-128-10 MLP student) on 4,000 of the shipped MNIST digits,
batch 128, KD at T=4 plus cross-entropy, in one process:

1. deterministic inputs: compressor computes the teacher's outputs once and reuses them; the
   plain loop runs the teacher every step. Goal: at least 10x the plain loop, same accuracy.
2. random augmentation (2-pixel shifts): the teacher must run every step on the augmented batch
   in both. Goal: at least 1.3x, from a faster teacher forward. The plain loop feeds its
   teacher batches in PyTorch's default layout, as a DataLoader's collate builds them; for
   reference the script also times it hand-tuned to channels-last (the faster eager layout).

Usage:
    python benchmarks/kd_throughput.py [--epochs 40]

With cached outputs the one-off teacher pass is amortized over the epochs, so the total ratio
grows with the schedule; the script prints the one-off cost and the per-epoch ratio as well.
Run it on a quiet machine: both loops share the same cores.
"""

from __future__ import annotations

import argparse
import copy
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


def plain_loop(
    teacher,
    student,
    bundle,
    epochs: int,
    augment: AugmentConfig | None,
    channels_last: bool = False,
) -> float:
    """What a user writes by hand: teacher forward under no_grad every step.

    ``channels_last`` hand-tunes it: the teacher and its batches in the channels-last layout.
    """
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    augmenter = Augmenter(augment, bundle.mean, bundle.std, generator)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    teacher = copy.deepcopy(teacher).eval().to(memory_format=layout)
    for _ in range(epochs):
        student.train()
        for _, x, y in iterate_batches(bundle.train, 128, shuffle=True, generator=generator):
            x, targets = augmenter(x, y, bundle.num_classes)
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    registry = Registry.load()
    mnist = registry.get("dataset", "mnist")
    bundle = mnist.build(
        mnist.options.model_validate({"val_fraction": 0.1, "test_fraction": 0.1}), seed=0
    )
    print(
        f"{len(bundle.train)} training digits, batch 128, {args.epochs} epochs, {torch.get_num_threads()} threads"
    )
    teacher, student = _models(registry, bundle)
    start = {k: v.clone() for k, v in student.state_dict().items()}
    # One untimed epoch of each loop first, so neither pays for kernel selection and allocation.
    plain_loop(teacher, student, bundle, 1, None)
    student.load_state_dict(start)

    for label, augment, goal in (
        ("deterministic inputs", None, 10.0),
        ("random 2-pixel shifts", AugmentConfig(shift=2), 1.3),
    ):
        timings: dict[str, float] = {}
        accuracy: dict[str, float] = {}
        student.load_state_dict(start)
        began = time.perf_counter()
        accuracy["plain PyTorch loop"] = plain_loop(teacher, student, bundle, args.epochs, augment)
        timings["plain PyTorch loop"] = time.perf_counter() - began
        student.load_state_dict(start)
        began = time.perf_counter()
        accuracy["compressor"], result = compressor_loop(
            registry, teacher, student, bundle, args.epochs, augment
        )
        timings["compressor"] = time.perf_counter() - began
        if augment is not None:
            student.load_state_dict(start)
            began = time.perf_counter()
            accuracy["plain, channels-last"] = plain_loop(
                teacher, student, bundle, args.epochs, augment, channels_last=True
            )
            timings["plain, channels-last"] = time.perf_counter() - began
        ratio = timings["plain PyTorch loop"] / timings["compressor"]
        samples = args.epochs * len(bundle.train)
        epoch_seconds = sum(h["seconds"] for h in result.history) / len(result.history)
        setup = timings["compressor"] - sum(h["seconds"] for h in result.history)
        how = (
            "teacher outputs cached"
            if result.teacher_cached
            else f"teacher on {', '.join(result.teacher_backends) or 'torch'}"
        )
        print(f"\n{label}:")
        for name, seconds in timings.items():
            print(
                f"  {name:20} {seconds:7.2f} s  {samples / seconds:9,.0f} samples/s  "
                f"test accuracy {100 * accuracy[name]:.2f}%"
            )
        per_epoch = timings["plain PyTorch loop"] / args.epochs / epoch_seconds
        print(
            f"  compressor: {setup:.2f} s once ({how}), then {epoch_seconds:.3f} s per epoch "
            f"({per_epoch:.1f}x the plain loop's {timings['plain PyTorch loop'] / args.epochs:.3f} s)"
        )
        verdict = "meets" if ratio >= goal else "MISSES"
        print(f"  speedup over {args.epochs} epochs {ratio:.2f}x ({verdict} the {goal}x goal)")
        if "plain, channels-last" in timings:
            tuned = timings["plain, channels-last"] / timings["compressor"]
            print(f"  against the plain loop hand-tuned to channels-last: {tuned:.2f}x")
        print(
            f"  accuracy difference {100 * (accuracy['compressor'] - accuracy['plain PyTorch loop']):+.2f} points"
        )


if __name__ == "__main__":
    main()
