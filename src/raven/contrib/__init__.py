"""Integrations with web frameworks, task queues and other libraries, one module each."""
