"""The neurons themselves: where they live, which ones, how to scale them, what they contribute (CETT)."""
