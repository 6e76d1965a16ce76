"""The built-in dataset: scenes of one to three flat shapes (``dataset``),
the grammar of their captions and the strict scene metric (``grammar``), and
generic image features computed from the pixels (``features``)."""
