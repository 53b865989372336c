"""The build of the optional compiled fast paths: the audit's (signage/audit/_fastscan.c) and
the log writer's encoder (signage/playlog/_fastlog.c).

It also compiles the message catalogue (signage/locale/*/LC_MESSAGES/signage.po -> .mo, with
Babel, a build requirement) into the built package, so that an install from a clone without a
compiled .mo is Chinese too. Everything else is configured in pyproject.toml. The extensions are optional: when they cannot
be built (no compiler, no OpenSSL headers) the install goes on and the audit uses its
pure-Python scanner and the writer its pure-Python encoder, which give the same results.
"""

from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py


class BuildWithCatalogue(build_py):
    """build_py, then every .po of the package compiled to its .mo beside it in build_lib."""

    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in Path("signage/locale").glob("*/LC_MESSAGES/*.po"):
            out = Path(self.build_lib) / po.with_suffix(".mo")
            out.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as f:
                catalog = read_po(f)
            with out.open("wb") as f:
                write_mo(f, catalog)


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


setup(ext_modules=[fast_path("audit._fastscan"), fast_path("playlog._fastlog")],
      cmdclass={"build_py": BuildWithCatalogue})
