"""The build of the optional compiled fast paths: the audit's (signage/audit/_fastscan.c) and
the log writer's encoder (signage/playlog/_fastlog.c).

Everything else is configured in pyproject.toml. The extensions are optional: when they cannot
be built (no compiler, no OpenSSL headers) the install goes on and the audit uses its
pure-Python scanner and the writer its pure-Python encoder, which give the same results.
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
        Extension(
            "signage.playlog._fastlog",
            sources=["signage/playlog/_fastlog.c"],
            libraries=["crypto"],
            extra_compile_args=["-Wall", "-Wextra"],
            optional=True,
        ),
    ],
)
