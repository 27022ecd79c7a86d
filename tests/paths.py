"""Where the shared corpora live: ``$STILLWATCH_SHARED_DATA`` or ``<repo>/../shared/data``.

CI clones the repository into a fresh folder with a copy of ``shared/`` beside it, so tests must
never name an absolute path.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STILLWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
