import numpy as np
from past.builtins import xrange

"""
This file implements various first-order update rules that are commonly used for
training neural networks. Each update rule accepts current weights and the
gradient of the loss with respect to those weights and produces the next set of
weights.
"""


def sgd(x, dx, config=None):
  """
  Performs vanilla stochastic gradient descent.
  """
  if config is None: config = {}
  config.setdefault('learning_rate', 1e-2)

  x -= config['learning_rate'] * dx
  return x, config


def adam(x, dx, config=None):
  """
  Uses the Adam update rule, which incorporates moving averages of both the
  gradient and its square and a bias correction term.
  """
  if config is None: config = {}
  config.setdefault('learning_rate', 1e-3)
  config.setdefault('beta1', 0.9)
  config.setdefault('beta2', 0.999)
  config.setdefault('epsilon', 1e-8)
  config.setdefault('m', np.zeros_like(x))
  config.setdefault('v', np.zeros_like(x))
  config.setdefault('t', 0)

  next_x = None
  beta1, beta2, eps = config['beta1'], config['beta2'], config['epsilon']
  t, m, v = config['t'], config['m'], config['v']
  m = beta1 * m + (1 - beta1) * dx
  v = beta2 * v + (1 - beta2) * (dx * dx)
  t += 1
  alpha = config['learning_rate'] * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
  x -= alpha * (m / (np.sqrt(v) + eps))
  config['t'] = t
  config['m'] = m
  config['v'] = v
  next_x = x

  return next_x, config
