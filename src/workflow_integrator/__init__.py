"""Workflow Integrator: SecureChange workflows to outbound servers."""

__version__ = "0.2.0"
