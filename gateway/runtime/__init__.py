"""Assembly of the running gateway: configuration, broker, HTTP, roles and the CLI."""
