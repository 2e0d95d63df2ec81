"""The CLI's durations: ``--heartbeat`` takes any seconds >= 0 (a long build may want one line
every few minutes), ``--latency`` of ``runner emulate`` seconds from 0 to 60."""

from __future__ import annotations

import pytest

from runner.cli.main import _parser, main


def test_heartbeat_above_a_minute(project, capsys) -> None:
    project.model("stg", "SELECT order_id FROM raw_orders")
    assert _parser().parse_args(["build", "--heartbeat", "300"]).heartbeat == 300.0
    assert main(["build", "--heartbeat", "300", "--project-dir", str(project.root)]) == 0
    assert "Done. PASS=1" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["build", "--heartbeat", "-1"], "runner build: argument --heartbeat: expected seconds >= 0, "
                                     "got '-1' (see runner build --help)"),
    (["emulate", "--latency", "61"], "runner emulate: argument --latency: expected seconds "
                                     "between 0 and 60, got '61' (see runner emulate --help)"),
])
def test_bad_durations_exit_2(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"Error: {message}\n"


def test_latency_within_a_minute() -> None:
    assert _parser().parse_args(["emulate", "--latency", "0.25"]).latency == 0.25
