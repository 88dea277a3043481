"""Fault checks that use only the public API, so they also run against an old revision's ``obra_llm``.

The fault suite's own files import test support added since the issue was filed, so they cannot
be collected on the revision an issue was seen on. These scripts can: each imports only the
standard library, ``obra_llm``'s public names and ``_loopback`` (the shared loopback server and
provider wire shapes, stdlib and public API too). Run one on this revision with
``python -m tests.faults.revision_checks.<script>``, or on an old one with its ``obra_llm``
first on the path and its directory as the working directory (a call a script runs in a
child process imports the same library)::

    cd /tmp/old && PYTHONPATH=/tmp/old python <repo>/tests/faults/revision_checks/<script>.py

Each prints ``ok  <case>`` or ``FAIL  <case>: <why>`` and exits 1 when any case fails;
``tests/faults/test_revision_checks.py`` runs them all and pins each one's number of cases.
"""
