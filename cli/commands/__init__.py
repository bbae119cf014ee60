"""The ``vss`` commands, grouped by the service they call; each module lists its ``COMMANDS``."""
