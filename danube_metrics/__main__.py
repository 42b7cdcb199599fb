import sys

from danube_metrics.cli import main

sys.exit(main())
