"""rating: 好差评 by the enterprise, revisits (回访), supervision of unhappy cases, appeals and their figures."""
