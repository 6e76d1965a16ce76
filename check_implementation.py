"""Check a learner's own exercise files against the library, and say what
is wrong.

    python check_implementation.py --help

The code is ``rnn_captioning.checker.report`` (installed as the console script
``rnn-check``); this file is the command, so that a checkout runs as is.
"""
import sys

from rnn_captioning.checker.report import main

if __name__ == "__main__":
    sys.exit(main())
