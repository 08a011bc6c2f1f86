"""intake: every channel into one stream; registers cases and keeps the enterprise-facing case view."""
