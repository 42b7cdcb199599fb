"""Build glue: everything else is in pyproject.toml. The C extension is declared by cffi."""

import sys
import sysconfig

from setuptools import setup

options = {}
if (
    sys.implementation.name == "cpython"
    and not hasattr(sys, "gettotalrefcount")
    and not sysconfig.get_config_var("Py_GIL_DISABLED")
):
    # cffi compiles against the limited API: one abi3 wheel serves every CPython >= 3.9 on a
    # platform. Debug and free-threaded builds have no stable ABI, so they get a plain wheel.
    options["bdist_wheel"] = {"py_limited_api": "cp39"}

setup(
    cffi_modules=["danube_metrics/_build.py:ffibuilder"],
    options=options,
)
