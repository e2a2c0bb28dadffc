"""``wiltonctl``: Wilton's command line. Each command group lives in its own module and registers
its subcommands through ``register(subparsers)``; errors become one line and a non-zero exit."""
