"""The library's extras, beside the exercise's eight modules at the top.

The exercise's modules (``layers``, ``rnn_layers``, ``captioning_rnn``,
``coco_utils``, ``image_utils``, ``gradient_check``, ``optim``, ``solver``)
are the contract a learner's code ports to. Everything else is here, one
sub-package or module per capability:

- ``scenes``: the built-in dataset (scenes and their images, the caption
  grammar with the strict scene metric, generic image features);
- ``checker``: the checker of learners' own exercise files (the checks, the
  catalogue of known mistakes, the report);
- ``self_critical``: self-critical fine-tuning and its rewards;
- ``evaluation``: caption metrics, scene accuracy of a model, plots;
- ``files``: file formats (atomic writes, ``.npz`` + JSON checkpoints, the
  solver's resumable state, checks of training data);
- ``decoding``: beam search;
- ``temporal_layers``: the exercise's temporal layers and their fused forms,
  re-exported by ``rnn_layers``;
- ``commands``: the code of the commands at the top (``train.py``,
  ``caption.py``, ``check_implementation.py``).

Sub-packages import nothing in their ``__init__``, so importing one never
pulls in another.
"""
