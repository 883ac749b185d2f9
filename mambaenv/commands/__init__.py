"""The commands: one module per command family; each takes one request dataclass and returns one typed result.

``cli`` imports only the family a command line names (``from mambaenv.commands import resolve``), so ``--help`` and
a resolve load nothing else. No command module imports another: what two commands share lives below them (plan.py,
download.py, install.py, ...).
"""
