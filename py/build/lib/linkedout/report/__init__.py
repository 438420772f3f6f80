"""Result plots: per-layer gate weights (the paper's Figs. 4-5) and training curves."""
