"""What the services agree on, and nothing else: the models of every command, reply, event and
internal body, ids, money, topics, errors and the rules every service applies to a request.

Pure: no I/O, no framework (import-linter keeps it so). Every service imports the one definition.
"""
