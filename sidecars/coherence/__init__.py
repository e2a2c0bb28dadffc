"""wilton-coherence: the slow outer loop that keeps the global φ on target (see README.md)."""
