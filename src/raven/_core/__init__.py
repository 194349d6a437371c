"""raven's engine; the public module paths (``raven.base``, ``raven.utils.*``) front it."""
