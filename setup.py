"""Builds the optional C candidate finder, batch reader and batch sniff; cardscan works without them.

If no compiler is available the build is skipped and cardscan falls back to
its pure-Python finder (same results, slower). See docs/design.md.
"""
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # pragma: no cover - depends on the machine
            print(f"cardscan: C finder not built ({exc}); using the pure-Python finder")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # pragma: no cover
            print(f"cardscan: C finder not built ({exc}); using the pure-Python finder")


setup(
    ext_modules=[
        Extension(
            "cardscan.engine._cfinder",
            sources=["cardscan/engine/_cfinder.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        # The batched reads of small files (sources/fs.py read_files); optional the same way.
        Extension(
            "cardscan.sources._fsbatch",
            sources=["cardscan/sources/_fsbatch.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        # One pass for the magic searched and the mail headers' words of a batch
        # (decoders/expand.py containers); optional the same way.
        Extension(
            "cardscan.decoders._sniff",
            sources=["cardscan/decoders/_sniff.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
