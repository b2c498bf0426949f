"""A local fake of Google's Android Device Provisioning Partner API (zero-touch reseller API, v1).

Its own process (``python -m emulator serve``), its own state file, Google's paths and wire format.
See emulator/README.md.
"""
