"""Use cases: one function per action, one transaction each, permission and scope checked here.

Adapters (API, pages, CLI, tasks) parse input, call one of these and map `errors` to their own
answer; they never touch models or rules directly.
"""
