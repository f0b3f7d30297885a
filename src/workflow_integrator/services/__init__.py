"""The service layer: one set of rules for the API, the web UI and the CLI."""
