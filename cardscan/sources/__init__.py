"""Sources list items and open them. See base.py for the protocol."""
