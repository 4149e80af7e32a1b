"""The house style and every bqplot figure."""
