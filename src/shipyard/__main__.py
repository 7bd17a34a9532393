"""``python -m shipyard`` and the ``shipyard`` console script.

Kept import-light on purpose: a job's child process comes from a multiprocessing fork
server, which imports the main script again in every child (as ``__mp_main__``). With
the CLI imported here at the top, each job would first import Typer, Rich and every
command module, a few hundred milliseconds before its work starts.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    from shipyard.cli import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
