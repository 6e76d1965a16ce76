"""Installs the captioning library (``pip install -e .``).

Top-level names are exactly the exercise's eight modules, which live at the
repository root as in the exercise, and the one package of our extras,
``rnn_captioning``. The commands at the root (train.py, caption.py,
check_implementation.py) are not installed as modules: their console scripts
point into the package.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
EXERCISE_MODULES = ["captioning_rnn", "coco_utils", "gradient_check", "image_utils", "layers",
                    "optim", "rnn_layers", "solver"]

setup(
    name="rnn-captioning",
    version="0.1.0",
    description="Image captioning with vanilla RNNs and LSTMs in NumPy, "
    "faithful to the classic exercise's API.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    py_modules=EXERCISE_MODULES,
    packages=find_packages(include=["rnn_captioning", "rnn_captioning.*"]),
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "imageio>=2.28",
        "matplotlib>=3.7",
        "h5py>=3.8",
        "tqdm>=4.65",
        # one BLAS thread where results must not depend on the thread count
        "threadpoolctl>=3.1",
        # tqdm's notebook progress bars (and no warning in Jupyter without them)
        "ipywidgets>=8.0",
        # BLEU, CIDEr-D, ROUGE-L (and METEOR when Java is present): the
        # implementation the COCO leaderboard uses, rather than our own.
        "pycocoevalcap>=1.2",
    ],
    extras_require={
        "test": [
            "pytest>=7.4",
            "hypothesis>=6.80",
            "nbmake>=1.5",
            "ipykernel>=6.25",
            # the checker's PyTorch-edition tests (the CPU build on this machine's disk)
            "torch==2.13.0",
        ],
        # checking learners' PyTorch-edition files (2025-): python check_implementation.py
        "torch": ["torch==2.13.0"],
        "bench": ["psutil>=5.9"],
        # opening the notebooks: .venv/bin/jupyter lab notebooks/
        "notebook": ["jupyterlab>=4.0"],
    },
    entry_points={
        "console_scripts": [
            "rnn-caption-train=rnn_captioning.commands.train:main",
            "rnn-caption=rnn_captioning.commands.caption:main",
            "rnn-check=rnn_captioning.checker.report:main",
            "rnn-autograder=rnn_captioning.checker.autograder:main",
            "rnn-grade-class=rnn_captioning.checker.classroom:main",
        ]
    },
)
