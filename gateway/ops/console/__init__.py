"""The operator console: web pages and their API for system operators."""
