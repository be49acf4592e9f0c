"""Runnable wirewatch jobs (``python -m pipelines.batch``).

Beam logs an import-time notice about optional GCP client libraries through the root
logger; a NullHandler keeps it off users' terminals until ``main()`` configures logging.
"""

import logging

logging.getLogger().addHandler(logging.NullHandler())
