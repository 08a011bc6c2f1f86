"""rating: 好差评 invitations for resolved cases (the rating flow itself is the rating issue's)."""
