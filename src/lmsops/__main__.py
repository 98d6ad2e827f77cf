import sys

from lmsops.cli import main

sys.exit(main())
