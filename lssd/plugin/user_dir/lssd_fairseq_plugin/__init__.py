"""The directory fairseq's ``--user-dir`` loads: it registers the LSSD task and criterion.

fairseq imports a user dir by its base name, after putting its parent directory first on ``sys.path``, and skips
a name already in ``sys.modules``. This package's name is used by nothing else, so the registration happens
whatever the process imported before (an ``lssd`` helper imported first would otherwise hide a ``--user-dir``
named ``lssd``), and its parent directory holds nothing else, so no other module becomes a top-level name.
"""

import sys
from pathlib import Path

CHECKOUT = str(Path(__file__).resolve().parents[4])
if "lssd" not in sys.modules and CHECKOUT not in sys.path:
    # the checkout this directory belongs to, not some other installed copy of the package
    sys.path.insert(0, CHECKOUT)

from lssd.plugin import criterion, task  # noqa: E402,F401  (their decorators register them with fairseq)
