"""Human-readable views of an explanation: HTML heatmap and terminal table."""
