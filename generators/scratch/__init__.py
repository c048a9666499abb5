"""Train from scratch: a GAN, a VAE or a small diffusion model learning MNIST digits live (the tab of issue 31).

nets.py holds the small networks; gan.py, vae.py and diffusion.py each a family's training run (recipe, step,
fixed sample grid, weights); data.py the bundled digits and the grading classifier; trainer.py the stream of
updates; weights.py the one-file download and its checks on upload.
"""
