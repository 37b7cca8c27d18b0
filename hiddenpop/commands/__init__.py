"""One module per command group of the ``hiddenpop`` CLI (see :mod:`hiddenpop.cli`).

Shared options and helpers are in :mod:`hiddenpop.commands._common`; every command parses
its options, reads inputs through :mod:`hiddenpop.io`, calls one library function and
writes the result through :mod:`hiddenpop.io`.
"""
