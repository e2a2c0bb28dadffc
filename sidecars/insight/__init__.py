"""wilton-insight: periodic analysis of φ, latency, cost and routing, with LLM recommendations."""
