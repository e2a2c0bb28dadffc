"""Allow `python -m wilton_plugin.fakes`."""

from .cli import main

if __name__ == "__main__":
    main()
