"""Code shared by every qhwy service: settings, contracts, organisation, logging, metrics, messaging, store."""
