"""The build of the optional compiled fast paths: the audit's (signage/audit/_fastscan.c) and
the log writer's encoder (signage/playlog/_fastlog.c).

Everything else is configured in pyproject.toml. The extensions are optional: when they cannot
be built (no compiler, no OpenSSL headers) the install goes on and the audit uses its
pure-Python scanner and the writer its pure-Python encoder, which give the same results.
"""

from setuptools import Extension, setup


def fast_path(module: str) -> Extension:
    """signage.<pkg>._<name> from signage/<pkg>/_<name>.c, with OpenSSL's SHA-256."""
    return Extension(
        f"signage.{module}",
        sources=[f"signage/{module.replace('.', '/')}.c"],
        depends=["signage/hmac_sha256.h"],
        libraries=["crypto"],
        extra_compile_args=["-Wall", "-Wextra"],
        optional=True,
    )


setup(ext_modules=[fast_path("audit._fastscan"), fast_path("playlog._fastlog")])
