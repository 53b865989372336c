"""The two C extensions parse and write logs the audited party can edit: hostile input. This
runs their differential fuzz tests (compiled against pure Python, on generated and damaged logs:
tests/audit/test_fastscan.py, tests/test_log_format.py, a bounded number of hypothesis
cases each) against builds made with gcc's AddressSanitizer and UndefinedBehaviorSanitizer, so
that a memory bug or undefined behaviour fails the suite (issue 10, item 18).

Control cases prove the harness can fail: a read after free and a signed overflow, built the
same way, must be caught."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
       "-g", "-O1"]


def _gcc() -> str:
    exe = shutil.which("gcc")
    assert exe is not None, "gcc is needed (scripts/setup installs it)"
    return exe


def _build(src: Path, out: Path, libs: tuple[str, ...] = ("-lcrypto",)) -> None:
    inc = sysconfig.get_paths()["include"]
    subprocess.run([_gcc(), "-shared", "-fPIC", *SAN, "-Wall", f"-I{inc}", str(src), "-o",
                    str(out), *libs], check=True, timeout=300, capture_output=True)


def _env(san_dir: Path) -> dict[str, str]:
    libasan = subprocess.run([_gcc(), "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True, timeout=30).stdout.strip()
    assert os.path.isabs(libasan), f"no libasan for gcc ({libasan}): apt install gcc"
    env = dict(os.environ)
    env.update(LD_PRELOAD=libasan, SIGNAGE_SAN_DIR=str(san_dir),
               ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               PYTHONPATH=str(ROOT), SIGNAGE_PURE_PYTHON="")
    return env


@pytest.fixture(scope="module")
def san_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("asan")
    _build(ROOT / "signage" / "audit" / "_fastscan.c", d / f"_fastscan{SUFFIX}")
    _build(ROOT / "signage" / "playlog" / "_fastlog.c", d / f"_fastlog{SUFFIX}")
    return d


@pytest.mark.parametrize(("case", "report"), [
    (0, "AddressSanitizer: heap-use-after-free"),
    (1, "runtime error: signed integer overflow"),
])
def test_the_harness_catches_memory_bugs_and_undefined_behaviour(
        tmp_path: Path, san_dir: Path, case: int, report: str) -> None:
    src = tmp_path / "_oops.c"
    src.write_text("""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdlib.h>
static PyObject *oops(PyObject *self, PyObject *arg) {
    long n = PyLong_AsLong(arg);
    if (n == 0) {  /* read after free */
        char *p = malloc(8);
        p[0] = 1;
        free(p);
        volatile char c = p[0];
        return PyLong_FromLong(c);
    }
    volatile int big = INT_MAX;  /* signed overflow */
    return PyLong_FromLong(big + (int)n);
}
static PyMethodDef M[] = {{"oops", oops, METH_O, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef D = {PyModuleDef_HEAD_INIT, "_oops", NULL, -1, M};
PyMODINIT_FUNC PyInit__oops(void) { return PyModule_Create(&D); }
""")
    _build(src, tmp_path / f"_oops{SUFFIX}", libs=())
    p = subprocess.run([sys.executable, "-c", f"import _oops; _oops.oops({case})"],
                       cwd=tmp_path, env=_env(san_dir), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode != 0
    assert report in p.stderr, p.stderr[-2000:]


def test_differential_fuzz_under_asan_and_ubsan(san_dir: Path) -> None:
    code = (
        "import sys, tests.sanitizers.sanboot\n"
        "import signage.audit.scan as S, signage.playlog.format as F\n"
        "assert S._fast.__file__.startswith(sys.argv[1]), S._fast.__file__\n"
        "assert F._fastlog.__file__.startswith(sys.argv[1]), F._fastlog.__file__\n"
        "import pytest\n"
        "sys.exit(pytest.main(['-q', '-x', '-p', 'no:cacheprovider',\n"
        "                      'tests/audit/test_fastscan.py', 'tests/test_log_format.py']))\n")
    p = subprocess.run([sys.executable, "-c", code, str(san_dir)], cwd=ROOT,
                       env=_env(san_dir), capture_output=True, text=True, timeout=900)
    out = p.stdout[-3000:] + p.stderr[-5000:]
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, out
    assert p.returncode == 0, out
    assert " passed" in p.stdout, out
