"""Audio through the whole pipeline: a folder of clips trains, distills, exports a waveform-in
ONNX file and INT8 keeps its front-end float; predict reads raw files at other rates and channel
counts exactly as training prepared its clips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import soundfile

from compressor.data.audio import AudioPreprocessing, read_clip
from compressor.testing import run_tiny_recipe
from tests.compressor.cli.invoke import run_cli

RATE = 8000
PITCHES = {"low": 300.0, "mid": 900.0, "high": 2000.0}


def _tone(pitch: float, seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.4 * np.sin(2 * np.pi * pitch * (1 + rng.uniform(-0.03, 0.03)) * t)
    return (wave + rng.normal(0, 0.02, len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tones")
    for label, pitch in PITCHES.items():
        for take in range(14):
            seconds = 0.15 + 0.03 * (take % 5)  # shorter than the clip: padded
            path = root / label / f"{take}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, _tone(pitch, seconds, RATE, take), RATE)
    return root


def _stages() -> list[dict]:
    model = {
        "name": "ds_cnn",
        "options": {"channels": 16, "n_mels": 16, "channels_last": False, "dropout": 0.0},
    }
    return [
        {
            "name": "teacher",
            "type": "train",
            "model": model,
            "epochs": 8,
            "optimizer": {"lr": 0.01},
            "recalibrate_bn": {"batches": 4},  # a few dozen steps leave running stats behind
        },
        {"name": "export", "type": "export", "inputs": {"models": ["teacher"]}},
        {
            "name": "quantize",
            "type": "quantize",
            "inputs": {"models": ["teacher.onnx"]},
            "mode": "static",
            "calibration_batches": 1,
        },
    ]


def test_a_clip_folder_runs_to_a_waveform_onnx_with_a_float_front_end(clips, tmp_path) -> None:
    data = {
        "dataset": "audio_folder",
        "options": {"train_root": str(clips), "val_fraction": 0.2, "test_fraction": 0.2},
        "preprocess": {"sample_rate": RATE, "clip_seconds": 0.25},
        "augment": {"time_shift": 0.1},
        "batch_size": 8,
    }
    run = run_tiny_recipe(_stages(), data=data, tmp_path=tmp_path)
    teacher = run.metrics["stages"]["teacher"]
    assert teacher["test_accuracy"] >= 0.6  # three pitches: easy once the front-end works
    resolved = (run.run_dir / "recipe.yaml").read_text(encoding="utf-8")
    assert "sample_rate: 8000" in resolved  # the model took the data's rate
    session = ort.InferenceSession(str(run.run_dir / "teacher.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert session.get_inputs()[0].shape[1:] == [2000]
    assert json.loads(meta["preprocessing"])["modality"] == "audio"
    assert json.loads(meta["keep_float"]) == ["/frontend/"]
    facts = run.metrics["stages"]["quantize"]["files"]["teacher.int8.onnx"]
    assert any(name.startswith("/frontend/") for name in facts["float_tail"])
    assert facts["quantized_ops"]  # the network itself is INT8


def test_predict_reads_raw_files_as_training_prepared_them(clips, tmp_path, capsys) -> None:
    data = {
        "dataset": "audio_folder",
        "options": {"train_root": str(clips)},
        "preprocess": {"sample_rate": RATE, "clip_seconds": 0.25},
        "batch_size": 8,
    }
    run = run_tiny_recipe(_stages()[:2], data=data, tmp_path=tmp_path)
    model = run.run_dir / "teacher.onnx"
    steps = AudioPreprocessing.from_seconds(0.25, RATE)
    files = []
    for label, pitch in PITCHES.items():  # 16 kHz stereo and 8 kHz mono raw files
        stereo = np.stack([_tone(pitch, 0.3, 16000, 99)] * 2, axis=1)
        soundfile.write(tmp_path / f"{label}_16k.wav", stereo, 16000)
        soundfile.write(tmp_path / f"{label}_8k.flac", _tone(pitch, 0.2, RATE, 98), RATE)
        files += [tmp_path / f"{label}_16k.wav", tmp_path / f"{label}_8k.flac"]
    code, out, err = run_cli(capsys, "predict", str(model), *map(str, files), "--json")
    assert code == 0, err
    answers = json.loads(out)
    session = ort.InferenceSession(str(model))
    for path, answer in zip(files, answers, strict=True):
        wave = steps.fit(read_clip(path))[None]  # what training's preprocessing gives
        logits = session.run(None, {session.get_inputs()[0].name: wave})[0][0]
        assert answer["top"][0]["index"] == int(np.argmax(logits)), path.name
    code, _, err = run_cli(capsys, "predict", str(model), str(tmp_path / "missing.wav"))
    assert code == 2 and "missing.wav" in err and "Traceback" not in err


def test_an_fsdd_style_flat_folder_runs_the_speech_recipe_with_set_alone(tmp_path, capsys) -> None:
    from compressor.cli import main

    folder = tmp_path / "recordings"
    folder.mkdir()
    for digit in range(10):
        for speaker in ("ann", "bob"):
            for index in (0, 5, 6):
                wave = _tone(200.0 + 150 * digit, 0.3, RATE, digit * 10 + index)
                soundfile.write(folder / f"{digit}_{speaker}_{index}.wav", wave, RATE)
    quick = [f"stages.{s}.epochs=1" for s in ("teacher", "distill")]
    quick += ["stages.prune.finetune.epochs=1", "stages.quantize.auto_seconds=0.02"]
    quick += ["stages.benchmark.min_seconds=0.01", "stages.benchmark.rounds=2"]
    quick += ["stages.benchmark.repeat=3", "stages.benchmark.batch_sizes=[1]"]
    sets = [x for q in quick for x in ("--set", q)]
    code = main(
        ["run", "speech", "--out", str(tmp_path / "run"), "--no-cache"]
        + ["--set", f"data.options.root={folder}", *sets]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["sizes"]["test"] == 20  # recordings 0 of both speakers
    session = ort.InferenceSession(str(tmp_path / "run" / "student.onnx"))
    assert session.get_inputs()[0].shape[1:] == [8000]  # one second at the recipe's 8 kHz
    assert "student.int8.onnx" in metrics["stages"]["benchmark"]["models"]
