"""Caption your own images with a model written by train.py.

    python caption.py --help

The code is ``rnn_captioning.commands.caption`` (installed as the console script
``rnn-caption``); this file is the command, so that a checkout runs as is.
"""
import sys

from rnn_captioning.commands.caption import main

if __name__ == "__main__":
    sys.exit(main())
