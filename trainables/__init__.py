"""GAN objectives, networks, data, measures and the training loop (usable with or without Ray)."""
