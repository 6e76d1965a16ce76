"""Self-critical fine-tuning (``training``: the policy-gradient loss with a
greedy baseline, and the scene reward) and the CIDEr-D reward (``reward``)."""
