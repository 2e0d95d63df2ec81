"""Ctrl-C with a real SIGINT: running statements are cancelled at once and nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def test_sigint_cancels_the_running_ctas_and_keeps_the_last_good_version(project) -> None:
    project.model("slow", "SELECT 1 AS n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "runner.cli.main", "build", "--project-dir", str(project.root)]
    assert subprocess.run(command, env=env, capture_output=True, timeout=120).returncode == 0
    # a CTAS that would run for minutes
    project.model("slow", "SELECT count(*) AS n FROM range(0, 200000) a(i), range(0, 200000) b(j) "
                          "WHERE (a.i * b.j) % 7 = 3")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "START table model slow" in line:
            break
    time.sleep(1.0)  # the CTAS is running now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    stopped_after = time.monotonic() - sent
    assert proc.returncode == 1
    assert "Error: interrupted: running statements were cancelled" in err
    assert "Traceback" not in err
    assert stopped_after < 20  # cancelled, not run to completion
    assert project.sql("SELECT n FROM slow") == [(1,)]  # the pointer still shows the good version
    names = [row[0] for row in project.sql("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_name LIKE 'slow__%'")]
    assert len(names) == 1  # the interrupted version left nothing behind
