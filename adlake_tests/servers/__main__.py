"""``python -m adlake_tests.servers <postgres|sftp|s3|sql>``: see :mod:`.tryout`."""

import sys

from adlake_tests.servers.tryout import main

sys.exit(main())
