"""``python -m attnlimits <command>``: ``verify [results] [--full]`` checks every store of a
results folder (:mod:`attnlimits.verify`); ``keys [PREFIX ...]`` lists the configuration keys
with their defaults and descriptions (:mod:`attnlimits.config_keys`); ``pages [--results results
--log LOG] [--check]`` renders the results pages from their templates and a run's values
(:mod:`attnlimits.results_pages`)."""

from __future__ import annotations

import sys

COMMANDS = {
    "verify": "attnlimits.verify",
    "keys": "attnlimits.config_keys",
    "pages": "attnlimits.results_pages",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(
            "usage: python -m attnlimits verify [results] [--full] [--configfile FILE]\n"
            "       python -m attnlimits keys [PREFIX ...] [--plugins MODULE ...]\n"
            "       python -m attnlimits pages [--results results --log LOG] [--check]\n"
            "  verify: check every store under a results folder against its manifest\n"
            "  keys: every configuration key (or those under PREFIX), its default and meaning\n"
            "  pages: render docs/results/*.md from their templates and the run's values, and\n"
            "         docs/mathematics.md's claim tables from the declarations",
            file=sys.stderr,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    import importlib

    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
