"""Command-line subcommands. Each module exposes ``add_parser(subparsers)``, which registers
its arguments and sets ``func(args) -> int`` (the exit code)."""
