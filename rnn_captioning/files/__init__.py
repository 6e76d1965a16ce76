"""File formats: atomic writes and ``.npz`` + JSON checkpoints
(``checkpoints``), the solver's resumable state (``solver_state``) and the
checks of training data before the first update (``training_data``)."""
