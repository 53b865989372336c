"""The build of the optional compiled fast path of the audit (signage/audit/_fastscan.c).

Everything else is configured in pyproject.toml. The extension is optional: when it cannot be
built (no compiler, no OpenSSL headers) the install goes on and the audit uses its pure-Python
scanner, which gives the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "signage.audit._fastscan",
            sources=["signage/audit/_fastscan.c"],
            libraries=["crypto"],
            extra_compile_args=["-Wall", "-Wextra"],
            optional=True,
        ),
    ],
)
