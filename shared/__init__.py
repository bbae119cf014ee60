"""The project's common package: the reliability core every service uses.

envelope   the intake envelope and the body of published events
db         connection pool and the Database dependency provider
migrations numbered SQL files per schema, applied under an advisory lock
inbox      exactly-once consumption of events, in batches
outbox     events written with the business transaction, relayed with confirms
consumer   the batch consumer entrypoint, dead letters included
auth       tokens, roles, Unauthorized and the audit log
errors     the remote error types of the contract
config     the nameko YAML with environment overrides
"""
