"""triage: screens, classifies and routes every registered case."""
