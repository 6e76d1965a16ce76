"""The checker of learners' own exercise files.

The untrusted side is one module, ``sandbox`` (run in a walled child: it
alone parses, compiles and runs a learner's files), with ``wire`` (the plain
data that crosses) and ``confine`` (the walls the child puts up). Everything
that judges runs in the checker: ``session`` (one check: children and jobs),
``walls`` (starting and ending children), ``remote`` (the learner's objects as
the checks see them), ``cases`` and ``checks`` (the PyTorch edition's in
``torch_checks`` on ``torch_layers``), the catalogue of known mistakes
(``mistakes``) and naming them (``diagnosis``), the library as the reference
(``reference``), and the report, command and Gradescope file (``report``,
``gradescope``)."""
