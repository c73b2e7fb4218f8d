"""Handlers of the coordinator: each is one unit of work (one DB transaction) over the saga store."""
