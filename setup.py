# Metadata and requirements live in setup.cfg; this shim lets pip build and
# install the package in editable mode with the setuptools of the venv.
from setuptools import setup

setup()
