"""``python -m medserve.endpoint serve``: the container's ENTRYPOINT (SageMaker passes ``serve``)."""

import sys

from medserve.endpoint.server import main

sys.exit(main(sys.argv[1:]))
