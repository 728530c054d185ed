"""A variational autoencoder on the bundled 8x8 digits, with ember.distributions.

    python examples/vae_digits.py --epochs 60 --latent 4

The encoder gives q(z|x) = Normal(mu, sigma); a reparameterised sample z = mu + sigma * eps
(``rsample``) keeps the loss differentiable in mu and sigma; the decoder gives Bernoulli pixel
probabilities p(x|z) (pixels scaled to [0, 1] act as soft targets). The loss is the negative
ELBO per image: reconstruction -log p(x|z) plus KL(q(z|x) || N(0, I)), the latter in closed
form by ``kl_divergence``. Reports the held-out negative ELBO in nats per image.
"""

import argparse

import numpy as np

import ember
from ember import nn
from ember.datasets import load_digits, train_test_split
from ember.distributions import Normal, kl_divergence
from ember.nn import functional as F


class VAE(nn.Module):
    def __init__(self, latent: int, hidden: int = 128):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU())
        self.mu, self.log_sigma = nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64))

    def forward(self, x):
        h = self.encoder(x)
        q = Normal(self.mu(h), self.log_sigma(h).exp())
        logits = self.decoder(q.rsample())
        return q, logits


def negative_elbo(model, x) -> ember.Tensor:
    q, logits = model(x)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    prior = Normal(ember.zeros_like(q.loc), ember.ones_like(q.scale))
    return (reconstruction + kl_divergence(q, prior).sum(-1)).mean()


def main(epochs: int = 60, latent: int = 4, lr: float = 2e-3, seed: int = 0) -> tuple:
    """Returns (held-out negative ELBO before training, after training), nats per image."""
    ember.manual_seed(seed)
    X, y = load_digits()
    X_train, X_test, _, _ = train_test_split(X / 16.0, y, test_size=0.2, seed=0)
    model = VAE(latent)
    opt = ember.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    x_test = ember.tensor(X_test)
    with ember.no_grad():
        before = negative_elbo(model, x_test).item()
    for epoch in range(epochs):
        order = rng.permutation(len(X_train))
        for i in range(0, len(order), 64):
            loss = negative_elbo(model, ember.tensor(X_train[order[i : i + 64]]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 20 == 19:
            print(f"epoch {epoch + 1:3d}  train -ELBO {loss.item():.2f}")
    with ember.no_grad():
        after = negative_elbo(model, x_test).item()
    print(f"held-out -ELBO: {before:.2f} -> {after:.2f} nats per image")
    return before, after


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--latent", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    main(a.epochs, a.latent, a.lr, a.seed)
