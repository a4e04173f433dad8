"""``compressor predict``: a model trained and exported by a run classifies image files as the
run's own evaluation does, from the file's metadata alone; bad files are one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from compressor import hookimpl
from compressor.data import DataBundle, prepare_bundle
from compressor.model.checkpoint import load_model
from compressor.onnx.deployment import read_preprocessing
from compressor.recipe import PreprocessConfig
from compressor.recipe.models import DataConfig
from compressor.records import DatasetPlugin
from compressor.testing import run_tiny_recipe
from tests.compressor.cli.invoke import run_cli

COLOURS = ("red", "green", "blue")
PREPROCESS = {"resize": [8, 8], "mean": "auto", "std": "auto"}


def colour_image(index: int, size: tuple[int, int]) -> Image.Image:
    """A noisy RGB image (PIL ``size``: width, height) whose strongest channel is ``index % 3``."""
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 110, (size[1], size[0], 3), dtype=np.uint8)
    pixels[:, :, index % 3] += np.uint8(120)
    return Image.fromarray(pixels, "RGB")


class Colours(Dataset):
    """``n`` images of 12x10 pixels, ``(PIL image, label)``: an image-folder dataset in memory."""

    def __init__(self, n: int, offset: int) -> None:
        self.n, self.offset = n, offset
        self.targets = np.array([(offset + i) % 3 for i in range(n)], dtype=np.int64)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        return colour_image(self.offset + index, (12, 10)), (self.offset + index) % 3


class ColoursPlugin:
    """A test-only dataset plugin giving raw datasets of PIL images."""

    @staticmethod
    def build(options: Any, seed: int) -> DataBundle:
        return DataBundle(
            name="colours",
            train=Colours(90, 0),  # type: ignore[arg-type]  # samples: the run wraps them
            val=Colours(15, 1000),  # type: ignore[arg-type]
            test=Colours(15, 2000),  # type: ignore[arg-type]
            num_classes=3,
            class_names=list(COLOURS),
        )

    @hookimpl
    def compressor_register_datasets(self) -> list[DatasetPlugin]:
        return [DatasetPlugin(name="colours", factory=self.build)]


def _export(name: str, **options: Any) -> dict[str, Any]:
    return {
        "name": f"export_{name}",
        "type": "export",
        "inputs": {"models": ["model"]},
        "outputs": {"files": [f"{name}.onnx"]},
        "exporter": {"name": "onnx", "options": {"dynamo": "off", **options}},
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A run that trains on the colour images (streamed, augmented) and exports twice."""
    tmp = tmp_path_factory.mktemp("predict")
    train = {
        "name": "model",
        "type": "train",
        "model": {"name": "seed_mlp", "options": {"hidden": [16]}},
        "epochs": 4,
        "optimizer": {"lr": 0.01},
    }
    run = run_tiny_recipe(
        [
            train,
            _export("plain"),
            _export("embedded", embed_preprocessing=True, raw_input="uint8"),
            {
                "name": "quantize",
                "type": "quantize",
                "inputs": {"models": ["plain.onnx"]},
                "mode": "dynamic",
            },
        ],
        plugins=[("colours_plugin", ColoursPlugin())],
        data={
            "dataset": "colours",
            "batch_size": 16,
            "in_memory": False,
            "num_workers": 0,
            "preprocess": PREPROCESS,
            "augment": {"random_resized_crop": {"scale": [0.7, 1.0]}},
        },
        tmp_path=tmp,
    )
    return run.run_dir


def _training_preprocessing() -> Any:
    config = DataConfig(dataset="colours", preprocess=PreprocessConfig(**PREPROCESS))
    return prepare_bundle(ColoursPlugin.build(None, 0), config).preprocessing


@pytest.mark.parametrize("file", ["plain.onnx", "embedded.onnx"])
def test_predict_gives_the_class_the_run_evaluation_gives(
    exported, tmp_path, capsys, registry, file
) -> None:
    model = exported / file
    session = ort.InferenceSession(str(model))
    meta = session.get_modelmeta().custom_metadata_map
    recorded = json.loads(meta["preprocessing"])
    assert recorded["resize"] == [8, 8] and recorded["channels"] == "RGB"
    assert recorded["layout"] == "NCHW" and recorded["value_range"] == [0.0, 255.0]
    assert recorded["normalize_in_graph"] is (file == "embedded.onnx")
    preprocessing = _training_preprocessing()
    trained = load_model(exported / "model.pt", registry)[0].eval()
    assert recorded["mean"] == pytest.approx(list(preprocessing.mean))
    agreed = 0
    for index in range(3000, 3012):
        image = colour_image(index, (23, 17))  # another size than the training images
        path = tmp_path / f"{index}.png"
        image.save(path)
        # What the run's evaluation feeds the model for this image: the training preprocessing.
        evaluated = preprocessing(image).numpy()[None]
        if file == "embedded.onnx":
            raw = np.round(
                (
                    evaluated * np.array(preprocessing.std).reshape(1, 3, 1, 1)
                    + np.array(preprocessing.mean).reshape(1, 3, 1, 1)
                )
                * 255
            )
            evaluated = raw.clip(0, 255).astype(np.uint8)
        expected = int(session.run(None, {"input": evaluated})[0].argmax())
        with torch.no_grad():  # the trained PyTorch model on the same preprocessed sample
            assert int(trained(preprocessing(image)[None]).argmax()) == expected
        prepared = read_preprocessing(meta, file).prepare(path)
        assert prepared.dtype == evaluated.dtype and prepared.shape == evaluated.shape
        scale = 255 if file == "embedded.onnx" else 255 * np.array(preprocessing.std).min()
        assert np.abs(prepared.astype(np.float64) - evaluated).max() * 255 / scale <= 1.01
        code, out, _ = run_cli(capsys, "predict", str(model), str(path), "--json", "--top-k", "2")
        assert code == 0
        rows = json.loads(out)
        assert [top["index"] for top in rows[0]["top"]][:1] == [expected]
        assert rows[0]["top"][0]["class"] == COLOURS[expected]
        probabilities = [top["probability"] for top in rows[0]["top"]]
        assert len(probabilities) == 2 and probabilities[0] >= probabilities[1] > 0
        agreed += expected == index % 3
    assert agreed >= 10  # the model learned the colours; the comparison is not between guesses


def test_the_table_lists_each_image_and_its_top_classes(
    exported, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for index in (1, 2):
        colour_image(index, (9, 14)).save(f"{index}.png")
    code, out, _ = run_cli(capsys, "predict", str(exported / "plain.onnx"), "1.png", "2.png")
    assert code == 0
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines[0] == ["image", "rank", "class", "probability"]
    assert [line[0] for line in lines if line[0].endswith(".png")] == ["1.png", "2.png"]
    assert sum(colour in out for colour in COLOURS) == 3  # top 3 by default: every class


def test_bad_inputs_are_one_line_errors(exported, tmp_path, capsys) -> None:
    text = tmp_path / "model.onnx"
    text.write_text("not a model")
    code, _, err = run_cli(capsys, "predict", str(text), str(tmp_path / "x.png"))
    assert code == 2 and "not an ONNX model onnxruntime can load" in err
    assert len(err.strip().splitlines()) == 1

    import onnx

    bare = onnx.load(str(exported / "plain.onnx"))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    colour_image(0, (8, 8)).save(tmp_path / "ok.png")
    code, _, err = run_cli(capsys, "predict", str(tmp_path / "bare.onnx"), str(tmp_path / "ok.png"))
    assert code == 2 and "no compressor preprocessing in its metadata" in err and "re-export" in err

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    code, _, err = run_cli(capsys, "predict", str(exported / "plain.onnx"), str(broken))
    assert code == 2 and f"{broken}: cannot read it as an image" in err
    assert len(err.strip().splitlines()) == 1

    code, _, err = run_cli(
        capsys, "predict", str(exported / "plain.onnx"), str(tmp_path / "ok.png"), "--top-k", "0"
    )
    assert code == 2 and "--top-k 0" in err


def test_a_decompression_bomb_is_one_line_naming_its_file(exported, tmp_path, capsys) -> None:
    # PIL refuses an image of more than twice MAX_IMAGE_PIXELS with DecompressionBombError,
    # which is no OSError: predict said nothing of the file and exited 1.
    bomb = tmp_path / "bomb.png"
    Image.new("RGB", (100, 100)).save(bomb)
    before, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, 1000
    try:
        code, _, err = run_cli(capsys, "predict", str(exported / "plain.onnx"), str(bomb))
    finally:
        Image.MAX_IMAGE_PIXELS = before
    assert code == 2 and f"{bomb}: cannot read it as an image" in err
    assert "DecompressionBomb" in err or "decompression bomb" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_predict_imports_no_torch(exported, tmp_path) -> None:
    colour_image(0, (8, 8)).save(tmp_path / "ok.png")
    code = (
        "import sys; from compressor.cli import main; "
        f"code = main(['predict', {str(exported / 'plain.onnx')!r}, {str(tmp_path / 'ok.png')!r}, '--json']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["top"][0]["class"] in COLOURS


def test_the_int8_file_keeps_the_metadata_and_predicts(exported, tmp_path, capsys) -> None:
    def meta(name: str) -> dict[str, str]:
        return ort.InferenceSession(str(exported / name)).get_modelmeta().custom_metadata_map

    fp32, int8 = meta("plain.onnx"), meta("plain.int8.onnx")
    assert int8["preprocessing"] == fp32["preprocessing"]
    assert {k: v for k, v in int8.items() if k in fp32} == fp32
    colour_image(3001, (16, 16)).save(tmp_path / "a.png")
    code, out, err = run_cli(
        capsys, "predict", str(exported / "plain.int8.onnx"), str(tmp_path / "a.png"), "--json"
    )
    assert code == 0, err
    assert json.loads(out)[0]["top"][0]["class"] in COLOURS
