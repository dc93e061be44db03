"""Sinks receive a sweep's records: the manifest writer, the console, later SARIF/JUnit.

See base.py for the protocol. Built-in sinks are registered in
``cardscan.registry.BUILTIN["cardscan.sinks"]``.
"""
