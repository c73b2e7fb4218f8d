"""The gateway's own rules: who may do what, request rules, list merging, integrity arithmetic."""
