"""What a running stage sees: the run's artifacts, data, device, folder and metrics.

:class:`RunContext` holds the whole run. Each stage gets a :class:`StageContext` that resolves
its input slots to artifacts, publishes its outputs, records metrics, builds other plugins
from recipe references, and shows progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.artifacts import Artifact
from compressor.errors import StageFailure

# StageInfo lives in compressor.plan (both the recipe and the context need it); plugins import
# it from here, as the hook reference documents.
from compressor.plan import StageInfo

#: The run folder's sub-folder for per-epoch training checkpoints (removed when the run completes).
CHECKPOINT_DIR = "checkpoints"

if TYPE_CHECKING:
    from compressor.data import DataBundle
    from compressor.plugin.registry import Registry
    from compressor.recipe.models import Recipe
    from compressor.run.progress import Progress
    from compressor.schemas import ExporterRef, LossTerm, ModelRef, PrunerRef
    from compressor.task import Task
    from compressor.training.epoch_checkpoint import EpochCheckpoint


@dataclass
class RunContext:
    """The state of one run, shared by all its stages.

    Attributes:
        recipe: The validated recipe.
        registry: Every registered plugin.
        run_dir: The folder artifacts are written to.
        device: The torch device string (``cpu``, ``cuda``, ``cuda:1``).
        seed: The recipe's seed.
        artifacts: name -> artifact, filled as stages publish.
        metrics: stage name -> that stage's metrics.
        progress: Draws progress bars.
        teacher_cache: Teacher outputs computed once and shared by the stages of the run.
        cache_dir: The stage cache's folder, when the run reads and writes it (``None``: no
            cache); teacher outputs kept on disk go under it.
    """

    recipe: Recipe
    registry: Registry
    run_dir: Path
    device: str
    seed: int
    progress: Progress
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    teacher_cache: dict[Any, Any] = field(default_factory=dict)
    cache_dir: Path | None = None
    _data: DataBundle | None = None
    _task: Task | None = None

    @property
    def task(self) -> Task:
        """The run's task (:mod:`compressor.task`): the recipe's ``task:``, else the dataset's."""
        if self._task is None:
            self._task = build_task(self.recipe, self.registry)
        return self._task

    @property
    def data(self) -> DataBundle:
        """The recipe's dataset, loaded on first use, in memory or streamed as ``data`` says,
        checked against the run's task."""
        if self._data is None:
            ref = self.recipe.data
            record = self.registry.get("dataset", ref.dataset)
            raw = record.build(ref.parsed, seed=ref.split_seed)
            self._data = task_bundle(raw, record, ref, self.task)
        return self._data


def data_facts(data: DataBundle) -> dict[str, Any]:
    """What the data's preprocessing fixes (an audio clip's rate), for the models' options that
    must match it (:func:`compressor.model.building.follow_data`)."""
    return data.preprocessing.describe() if data.preprocessing is not None else {}


def build_task(recipe: Recipe, registry: Registry | None) -> Task:
    """The task a recipe runs: its ``task:`` (validated), else its dataset's declared task.

    A context made by hand, without a registry or a dataset (a stage driven outside a run),
    scores classification, as compressor did before tasks.
    """
    ref = getattr(recipe, "task", None)
    dataset = getattr(getattr(recipe, "data", None), "dataset", None)
    if registry is None or (ref is None and dataset is None):
        # The one place the SDK reaches the plugin layer (allowed in pyproject.toml).
        from compressor.plugin.tasks import classification

        return classification()
    if ref is None:
        name = registry.get("dataset", str(dataset)).task
        return registry.get("task", name).build(None)
    return registry.get("task", ref.name).build(ref.parsed)


def task_bundle(
    raw: DataBundle, record: Any, config: Any, task: Task, *, decode: bool = True
) -> DataBundle:
    """What a dataset plugin returned, as a run serves it for ``task``.

    The bundle gets the run's task and the modality its record declares, then the recipe's
    ``data`` section decides preprocessing and placement
    (:func:`compressor.data.prepare_bundle`), and the task checks the targets.

    Args:
        raw: The dataset plugin's bundle.
        record: The dataset plugin's record.
        config: The recipe's ``data`` section.
        task: The run's task.
        decode: ``False`` (``compressor validate``) decodes no more than one sample.

    Raises:
        RecipeError: The dataset's targets do not suit the task (``data.dataset``), or
            ``data.preprocess`` does not suit the dataset.
    """
    from compressor.data import prepare_bundle
    from compressor.errors import RecipeError

    raw.task = task.name
    if raw.modality == "image":  # the default: the record declares what its samples are
        raw.modality = getattr(record, "modality", "image")
    data = prepare_bundle(raw, config, decode=decode, task=task)
    problem = task.check_data(data)
    if problem:
        raise RecipeError("data.dataset", problem, value=config.dataset)
    return data


class StageContext:
    """The view of the run that one stage gets. Stage plugins receive this in ``run(ctx)``."""

    def __init__(self, run: RunContext, info: StageInfo) -> None:
        self.run = run
        self.info = info
        self.metrics: dict[str, Any] = run.metrics.setdefault(info.name, {})
        self._checkpoints = 0

    @property
    def options(self) -> Any:
        """This stage's validated options."""
        return self.info.options

    @property
    def data(self) -> DataBundle:
        """The recipe's dataset."""
        return self.run.data

    @property
    def task(self) -> Task:
        """The run's task: its metric, targets, deployed form (:class:`compressor.task.Task`)."""
        return self.run.task

    @property
    def device(self) -> str:
        """The torch device to train on."""
        return self.run.device

    @property
    def run_dir(self) -> Path:
        """The run folder; write artifacts with :mod:`compressor.atomic`."""
        return self.run.run_dir

    @property
    def batch_size(self) -> int:
        """The recipe's training batch size."""
        return self.run.recipe.data.batch_size

    @property
    def eval_batch_size(self) -> int:
        """The recipe's evaluation batch size."""
        return self.run.recipe.data.eval_batch_size

    def seed(self, offset: int = 0) -> int:
        """A seed for this stage, derived from the recipe seed and the stage position."""
        return self.run.seed * 1000 + self.info.index * 10 + offset

    def checkpoint(self) -> EpochCheckpoint:
        """A per-epoch checkpoint for the next training loop of this stage.

        Each call gives the next file (``checkpoints/<stage>-0.pt``, ``-1.pt``, ...): a stage
        that trains several times (iterative pruning) gets one per loop, and a resumed run,
        making the same calls in the same order, finds each loop's own file.
        """
        from compressor.training.epoch_checkpoint import EpochCheckpoint

        path = self.run_dir / CHECKPOINT_DIR / f"{self.info.name}-{self._checkpoints}.pt"
        self._checkpoints += 1
        return EpochCheckpoint(path)

    def score(self, model: Any, split: str = "val") -> dict[str, Any]:
        """Every figure of the task's metric for ``model`` on the split named ``split``.

        Choose on ``val``; report on ``test`` (what a stage decides must not read ``test``).

        Returns:
            The task scorer's figures (``{"accuracy": ...}``; ``{"map": ..., "map50": ...}``).
        """
        # The one place the SDK scores through compressor.training (allowed in pyproject.toml).
        from compressor.training.evaluation import score

        data = self.data
        return score(
            model,
            data.split(split),
            self.eval_batch_size,
            self.device,
            task=self.task,
            data=data,
        )

    def evaluate(self, model: Any, split: str = "val") -> float:
        """The task's headline figure for ``model`` on ``split`` (see :meth:`score`)."""
        return float(self.score(model, split)[self.task.metric.key])

    def figure(self, split: str) -> str:
        """How ``metrics.json`` names the headline metric measured on ``split``
        (``test_accuracy``, ``val_map``)."""
        return f"{split}_{self.task.metric.key}"

    def input(self, slot: str) -> Any:
        """The artifact in input ``slot`` (a list for ``many`` slots, ``None`` when unset)."""
        names = self.info.inputs.get(slot)
        if names is None:
            return None
        if isinstance(names, list):
            return [self.run.artifacts[n] for n in names]
        return self.run.artifacts[names]

    def output_name(self, slot: str) -> Any:
        """The artifact name(s) the recipe gave output ``slot``."""
        return self.info.outputs.get(slot)

    def publish(self, artifact: Artifact) -> None:
        """Make ``artifact`` available to later stages.

        Raises:
            StageFailure: The stage published a name it did not declare as an output.
        """
        declared = {
            n for v in self.info.outputs.values() for n in (v if isinstance(v, list) else [v])
        }
        if artifact.name not in declared:
            raise StageFailure(
                f"stage {self.info.name!r} published {artifact.name!r}, which is not one of its "
                f"declared outputs ({', '.join(sorted(declared)) or 'none'})"
            )
        artifact.producer = self.info.name
        self.run.artifacts[artifact.name] = artifact

    def log(self, **values: Any) -> None:
        """Record metrics for this stage (they go to ``metrics.json`` and the report)."""
        self.metrics.update(values)

    @contextmanager
    def progress(self, total: int, description: str | None = None) -> Iterator[Any]:
        """A progress bar for this stage; call ``bar.advance(n, **postfix)`` as work is done."""
        with self.run.progress.bar(total, description or self.info.name) as bar:
            yield bar

    def build_model(self, ref: ModelRef, field: str | None = None) -> Any:
        """Build the model a model entry describes, for the recipe's data.

        The architecture at the entry's ``width``, with its ``weights`` loaded (``head``,
        ``strict``: see docs/models.md). What loading did is logged as ``weights``; keys a
        non-strict load left missing or unexpected are also printed as a warning.

        Args:
            ref: The model entry.
            field: Its recipe field, for messages (default: ``stages.NAME.model``).
        """
        # The one place the SDK builds through compressor.model (allowed in pyproject.toml).
        from compressor.model.building import build_model

        data = self.data
        built = build_model(
            ref,
            self.run.registry,
            input_shape=tuple(data.input_shape),
            num_classes=data.num_classes,
            field=field or f"stages.{self.info.name}.model",
            task=self.task,
            data_facts=data_facts(data),
        )
        if built.weights is not None:
            weights = built.weights.as_metrics()
            if built.preprocessing:
                weights["preprocessing"] = built.preprocessing
                mismatch = self._normalization_mismatch(built.preprocessing)
                if mismatch:
                    weights["normalization_mismatch"] = mismatch
                    self.run.progress.warn(
                        f"{field or f'stages.{self.info.name}.model'}: {mismatch}"
                    )
            self.log(weights=weights)
            if built.weights.missing or built.weights.unexpected:
                self.run.progress.warn(f"stages.{self.info.name}: {built.weights.describe()}")
        return built.model

    def _normalization_mismatch(self, preprocessing: dict[str, Any]) -> str | None:
        """Whether the data's normalization differs from what named weights learned on, when
        the recipe left ``data.preprocess.mean``/``std`` to the dataset (given ones are the
        recipe's choice). A warning, not a switch: the data is prepared once for every stage."""
        from compressor.model.building import normalization_mismatch

        spec = getattr(getattr(self.run.recipe, "data", None), "preprocess", None)
        if getattr(spec, "mean", None) is not None:
            return None
        data = self.data
        return normalization_mismatch(preprocessing, tuple(data.mean), tuple(data.std))

    def build_loss(self, term: LossTerm) -> Any:
        """Build the loss module of one loss term."""
        return self.run.registry.get("loss", term.name).build(term.parsed)

    def loss_needs_teacher(self, term: LossTerm) -> bool:
        """Whether a loss term compares against a teacher."""
        return bool(self.run.registry.get("loss", term.name).needs_teacher)

    def build_pruner(self, ref: PrunerRef) -> Any:
        """Build a pruning method."""
        return self.run.registry.get("pruner", ref.name).build(ref.parsed)

    def exporter(self, ref: ExporterRef) -> Any:
        """The exporter record (its ``suffix``) and a built exporter, as a pair."""
        record = self.run.registry.get("exporter", ref.name)
        return record, record.build(ref.parsed)
