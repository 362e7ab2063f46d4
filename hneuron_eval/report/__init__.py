"""Reading lm-eval output folders back: leaderboards, plots, re-scoring."""
