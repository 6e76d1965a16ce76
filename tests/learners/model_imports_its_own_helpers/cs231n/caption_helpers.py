"""My own helpers for the captioning model."""
from cs231n.layers import affine_forward


def initial_state(features, W_proj, b_proj):
    """h0 = features W_proj + b_proj, with the affine layer's cache."""
    return affine_forward(features, W_proj, b_proj)
