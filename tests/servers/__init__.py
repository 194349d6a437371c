"""Real servers for the end-to-end tests (started on 127.0.0.1, stopped by pid)."""
