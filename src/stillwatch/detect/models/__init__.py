"""Shipped model artifacts (weights + manifest), built by the scripts under ``scripts/``.

* ``jailbreak_lr.npz`` / ``jailbreak_lr.manifest.json`` — the jailbreak classifier
  (``scripts/train_jailbreak.py``): sparse logistic-regression weights over hashed n-grams, the
  decision threshold, training-data hashes, split and held-out metrics. No corpus text.
"""
