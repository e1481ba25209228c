"""``python -m gannorm``: the CLI (:mod:`gannorm.cli`). A ``train`` or ``evaluate`` job goes to the
fork server named by ``GANNORM_FORK_SERVER`` when one answers there (:mod:`gannorm.forkserver`:
torch is imported there once), else runs here."""

import os
import sys

from gannorm.cli import main

if __name__ == "__main__":
    if os.environ.get("GANNORM_FORK_SERVER") and sys.argv[1:2] in (["train"], ["evaluate"]):
        from gannorm.forkserver import run_via_server  # no torch here: the server has it imported

        code = run_via_server(os.environ["GANNORM_FORK_SERVER"], sys.argv[1:])
        if code is not None:
            sys.exit(code)
    main()
