"""Connections shared by every stage: the warehouse and each tool's API client.

Each resource only holds configuration and hands out a client; which values it
gets (sandbox or real service) is decided in `cs_platform.settings`.
"""
