"""The local stack: embedded AWS emulator, resources, demo data, the API and the event-trigger stand-ins.

Not part of the Lambda package (it lives outside `chalicelib/`).
"""
