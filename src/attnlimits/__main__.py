"""``python -m attnlimits <command>``: ``verify [results] [--full]`` checks every store of a
results folder (:mod:`attnlimits.verify`)."""

from __future__ import annotations

import sys

COMMANDS = {"verify": "attnlimits.verify"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(
            "usage: python -m attnlimits verify [results] [--full] [--configfile FILE]\n"
            "  verify: check every store under a results folder against its manifest",
            file=sys.stderr,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    import importlib

    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
