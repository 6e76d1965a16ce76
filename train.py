"""The main job: train a CaptioningRNN on COCO features (or on the built-in
dataset when the COCO files are absent) and report how well it captions.

    python train.py --help

The code is ``rnn_captioning.commands.train`` (installed as the console script
``rnn-caption-train``); this file is the command, so that a checkout runs as is.
"""
import sys

from rnn_captioning.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
