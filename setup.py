"""Installs the flat modules of the captioning library (``pip install -e .``).

The modules live at the repository root, as in the exercise, so ``py_modules``
lists them one by one instead of ``packages``.
"""
from pathlib import Path

from setuptools import setup

# Every top-level module of the repository except this file.
HERE = Path(__file__).resolve().parent
MODULES = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "setup")

setup(
    name="rnn-captioning",
    version="0.1.0",
    description="Image captioning with vanilla RNNs and LSTMs in NumPy, "
    "faithful to the classic exercise's API.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    py_modules=MODULES,
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "imageio>=2.28",
        "matplotlib>=3.7",
        "h5py>=3.8",
        "tqdm>=4.65",
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
        ],
        "bench": ["psutil>=5.9"],
    },
    entry_points={
        "console_scripts": [
            "rnn-caption-train=train:main",
            "rnn-caption=caption:main",
            "rnn-check=check_implementation:main",
        ]
    },
)
