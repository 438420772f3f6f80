"""The online ranking application: a trained model + EmbeddingStore answering recommend/add_items ops."""
