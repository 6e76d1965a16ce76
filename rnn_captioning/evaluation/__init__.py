"""Evaluation: caption metrics (``metrics``), the strict scene accuracy of a
model on the built-in dataset and its extra splits (``scenes``), and plots
(``plots``)."""
