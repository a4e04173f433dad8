"""compressor.logs: the compressor logger, the CLI's handler, and quietening other libraries
without changing their logging for good."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from compressor import logs
from tests.root_logger import Collect, bare_root_logger


def test_every_logger_is_under_compressor() -> None:
    assert logs.get_logger("compressor.plugin.manager").name == "compressor.plugin.manager"
    assert logs.get_logger("compressor").name == "compressor"
    assert logs.get_logger("my_plugin.losses").name == "compressor.my_plugin.losses"
    assert logs.get_logger("compressor_stages.quantize").parent.name == "compressor"


def test_levels_from_the_command_line() -> None:
    assert logs.level_for() == logging.WARNING
    assert logs.level_for(1) == logging.INFO
    assert logs.level_for(3) == logging.DEBUG
    assert logs.level_for(2, "ERROR") == logging.ERROR
    with pytest.raises(ValueError, match="valid choices: debug, info, warning, error"):
        logs.level_for(0, "loud")


def test_importing_and_using_compressor_configures_no_logging() -> None:
    code = textwrap.dedent(
        """
        import io, contextlib, logging
        from compressor.cli import main
        from compressor.plugin.registry import Registry
        Registry.load()
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["-vv", "plugins", "--json"]) == 0
        root, ours = logging.getLogger(), logging.getLogger("compressor")
        print(root.level, root.handlers, ours.level, ours.handlers, ours.propagate)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "30 [] 0 [] True"


def test_configured_prints_on_the_current_stderr_and_undoes_itself(capsys) -> None:
    logger = logging.getLogger("compressor")
    before = (logger.level, logger.handlers[:], logger.propagate)
    with logs.configured(logging.INFO):
        logs.get_logger("compressor.run").info("stage %s done", "teacher")
        logs.get_logger("my_plugin").warning("careful")
        logs.get_logger("compressor.run").debug("not shown")
    assert (logger.level, logger.handlers, logger.propagate) == before
    assert capsys.readouterr().err.splitlines() == [
        "info compressor.run: stage teacher done",
        "warning: careful",
    ]


def test_configured_marks_lines_of_other_torchrun_ranks(capsys, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "2")
    with logs.configured(logging.WARNING):
        logs.logger.warning("slow disk")
    assert capsys.readouterr().err == "warning: [rank 2] slow disk\n"


def test_quieter_undoes_only_its_own_change() -> None:
    untouched, changed, strict = (logging.getLogger(f"test_logs.{n}") for n in "abc")
    untouched.setLevel(logging.NOTSET)
    changed.setLevel(logging.INFO)
    strict.setLevel(logging.CRITICAL)
    with logs.quieter([untouched.name, changed.name, strict.name]):
        assert untouched.level == changed.level == logging.ERROR
        assert strict.level == logging.CRITICAL  # never made less strict
        changed.setLevel(logging.DEBUG)  # the user, or the library, meanwhile
    assert untouched.level == logging.NOTSET
    assert changed.level == logging.DEBUG and strict.level == logging.CRITICAL


CHATTY = """
import logging

def chat():
    logging.info("routine detail")
    logging.warning("routine advice")
    logging.error("a real problem")
"""


@pytest.fixture
def chatty(tmp_path, monkeypatch) -> object:
    """A package that logs through the root logger, as onnxruntime.quantization does."""
    package = tmp_path / "fake_chatty"
    package.mkdir()
    (package / "__init__.py").write_text(CHATTY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import fake_chatty

    yield fake_chatty
    sys.modules.pop("fake_chatty", None)


def test_root_records_held_back_leave_the_root_logger_as_it_was(chatty, capsys) -> None:
    into, collect = logging.getLogger("compressor.test_hold"), Collect()
    into.addHandler(collect)
    into.setLevel(logging.DEBUG)
    try:
        with bare_root_logger() as root:
            with logs.holding_back_root_records("fake_chatty", into=into):
                chatty.chat()
                logging.warning("someone else's warning")  # noqa: LOG015 - the case tested
            # No basicConfig(): no handler left behind, and the level is the root logger's own.
            assert root.handlers == [] and root.level == logging.WARNING and not root.filters
    finally:
        into.removeHandler(collect)
        into.setLevel(logging.NOTSET)
    # As with no handler at all: Python's last resort prints what is not held back.
    assert capsys.readouterr().err.splitlines() == ["a real problem", "someone else's warning"]
    assert [(r.levelname, r.getMessage()) for r in collect.records] == [
        ("DEBUG", "fake_chatty: routine advice")
    ]


def test_held_back_records_do_not_reach_a_configured_root_handler(chatty) -> None:
    root, collect = logging.getLogger(), Collect()
    root.addHandler(collect)
    try:
        with logs.holding_back_root_records("fake_chatty"):
            chatty.chat()
    finally:
        root.removeHandler(collect)
    assert [r.getMessage() for r in collect.records if r.name == "root"] == ["a real problem"]
