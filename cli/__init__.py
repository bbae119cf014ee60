"""The operator's command line, ``vss``, over the services' RPC."""
