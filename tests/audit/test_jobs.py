"""How many processes the audit uses when --jobs is not given (run.default_jobs): one for a
small log or a busy machine, one per idle CPU otherwise."""

from __future__ import annotations

from signage.audit.run import PARALLEL_MIN_BYTES, default_jobs


def test_small_logs_use_one_process() -> None:
    assert default_jobs(PARALLEL_MIN_BYTES, 8, 0.0) == 1
    assert default_jobs(0, 2, 0.0) == 1


def test_large_logs_use_the_idle_cpus() -> None:
    big = PARALLEL_MIN_BYTES + 1
    assert default_jobs(big, 2, 0.0) == 2
    assert default_jobs(big, 2, 0.3) == 2
    assert default_jobs(big, 2, 1.0) == 1  # one core busy: the other runs the audit alone
    assert default_jobs(big, 2, 40.0) == 1
    assert default_jobs(big, 8, 3.0) == 5
    assert default_jobs(big, 1, 0.0) == 1
