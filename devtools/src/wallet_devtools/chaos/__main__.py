"""`python -m wallet_devtools.chaos`: the same as `wallet chaos`."""

import sys

from wallet_devtools.chaos import main

sys.exit(main(sys.argv[1:]))
