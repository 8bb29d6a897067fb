from __future__ import annotations

import os

# Two xdist workers on two cores: OpenMP threads in each would oversubscribe the machine
# and spin; one thread per process keeps every test (and the processes it starts) fast.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("MLFLOW_TRACKING_URI", None)
