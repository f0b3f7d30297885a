"""Shared test configuration: fixture plugins of the real test servers."""

pytest_plugins = ["tests.servers.outbound_plugin"]
