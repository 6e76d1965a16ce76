"""The checker of learners' own exercise files: reading and running them
(``loading``), the cases each function runs on (``cases``), the checks
(``checks``; the PyTorch edition's in ``torch_checks`` on ``torch_layers``),
the catalogue of known mistakes (``mistakes``) and naming them
(``diagnosis``), the library as the reference (``reference``), and the report,
command and Gradescope file (``report``, ``gradescope``)."""
