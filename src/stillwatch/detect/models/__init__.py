"""Shipped model artifacts (weights + manifest), built by the scripts under ``scripts/``.

* ``jailbreak_lr.npz`` / ``jailbreak_lr.manifest.json`` — the jailbreak classifier
  (``scripts/train_jailbreak.py``): sparse logistic-regression weights over hashed n-grams, two
  operating points chosen out of fold (``threshold``: recall, where the account detector reviews;
  ``finding_threshold``: precision, exchange findings), training-data hashes, split and held-out
  metrics at both. No corpus text.
"""
