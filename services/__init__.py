"""The qhwy services. Each imports `shared`, never another service."""
