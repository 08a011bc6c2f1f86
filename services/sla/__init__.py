"""sla: keeps each assigned case's deadline and announces the ones that pass it."""
