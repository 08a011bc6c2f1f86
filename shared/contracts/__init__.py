"""Public and internal message schemas, versioned. CONTRACT.md is the outside view of these."""
