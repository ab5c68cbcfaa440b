"""Installs tensorflow_gnn_dink: Dink-Net graph clustering for TF-GNN."""
import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent


def _requirements(name: str) -> list[str]:
  lines = (_HERE / name).read_text().splitlines()
  return [l for l in lines if l.strip() and not l.startswith(("#", "-r"))]


setuptools.setup(
    name="tensorflow-gnn-dink",
    version="0.1.0",
    description="Dink-Net neural graph clustering, native to TensorFlow GNN.",
    long_description=(_HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=setuptools.find_packages(include=["tensorflow_gnn_dink*"]),
    install_requires=_requirements("requirements.txt"),
    extras_require={"test": _requirements("requirements-test.txt")},
    entry_points={
        "console_scripts": ["tfgnn-dink=tensorflow_gnn_dink.recipe.cli:run_main"],
    },
    license="Apache-2.0",
)
