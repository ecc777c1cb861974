"""The Keras 3 and plain-TensorFlow ops backends for the architectures in ``frameworks_nets``, and their loaders.

- ``build_keras(arch)``: a Keras 3 functional model (NHWC input); the same code on every Keras backend (the
  backend is chosen by KERAS_BACKEND before keras is first imported, so one process = one backend).
  ``load_keras`` assigns the mapped arrays to ``model.weights`` by path, checked one to one.
- ``build_tf(arch, mapped)``: a ``tf.Module`` whose variables are created from the mapped arrays (its
  variable set is checked against the key map), calling tf.nn ops directly: no Keras layer anywhere, so
  "TensorFlow" and "Keras 3 on TensorFlow" are different code paths over the same TF runtime. Its
  ``__call__`` runs eagerly; ``tf.function(net.__call__, jit_compile=True)`` is the XLA variant.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from .frameworks_nets import NO_PAD, check_targets, key_map, tf_layer_name


class KerasOps:
    """Builds Keras layers; explicit ZeroPadding2D + "valid" convolutions (see frameworks_nets)."""

    def __init__(self, keras) -> None:
        self.L = keras.layers

    def _pad(self, x, pad, name=None):
        return x if tuple(map(tuple, pad)) == NO_PAD else self.L.ZeroPadding2D(pad, name=name)(x)

    def conv(self, x, name, cin, cout, k, s, pad, groups=1, bias=False):
        n = tf_layer_name(name)
        x = self._pad(x, pad, n + "_pad")
        if groups > 1:
            layer = self.L.DepthwiseConv2D(k, strides=s, padding="valid", use_bias=bias, name=n)
        else:
            layer = self.L.Conv2D(cout, k, strides=s, padding="valid", use_bias=bias, name=n)
        return layer(x)

    def bn(self, x, name, c, eps, momentum=0.1):
        return self.L.BatchNormalization(epsilon=eps, momentum=1.0 - momentum, name=tf_layer_name(name))(x)

    def dense(self, x, name, cin, cout):
        return self.L.Dense(cout, name=tf_layer_name(name))(x)

    def act(self, x, kind):
        return self.L.ReLU(max_value=6.0 if kind == "relu6" else None)(x)

    def add(self, a, b):
        return self.L.Add()([a, b])

    def maxpool(self, x, k, s, pad):
        return self.L.MaxPooling2D(k, strides=s, padding="valid")(self._pad(x, pad))

    def gap(self, x):
        return self.L.GlobalAveragePooling2D()(x)


class TFOps:
    """Plain TensorFlow ops over a dict of tf.Variables keyed by the Keras/TF variable path."""

    def __init__(self, tf, variables: Mapping) -> None:
        self.tf, self.v = tf, variables

    def _pad(self, x, pad):
        if tuple(map(tuple, pad)) == NO_PAD:
            return x
        return self.tf.pad(x, [[0, 0], list(pad[0]), list(pad[1]), [0, 0]])

    def conv(self, x, name, cin, cout, k, s, pad, groups=1, bias=False):
        n, nn = tf_layer_name(name), self.tf.nn
        x = self._pad(x, pad)
        if groups > 1:
            y = nn.depthwise_conv2d(x, self.v[f"{n}/kernel"], [1, s, s, 1], "VALID")
        else:
            y = nn.conv2d(x, self.v[f"{n}/kernel"], s, "VALID")
        return nn.bias_add(y, self.v[f"{n}/bias"]) if bias else y

    def bn(self, x, name, c, eps, momentum=0.1):
        n = tf_layer_name(name)
        return self.tf.nn.batch_normalization(x, self.v[f"{n}/moving_mean"], self.v[f"{n}/moving_variance"],
                                              self.v[f"{n}/beta"], self.v[f"{n}/gamma"], eps)

    def dense(self, x, name, cin, cout):
        n = tf_layer_name(name)
        return self.tf.matmul(x, self.v[f"{n}/kernel"]) + self.v[f"{n}/bias"]

    def act(self, x, kind):
        return self.tf.nn.relu6(x) if kind == "relu6" else self.tf.nn.relu(x)

    def add(self, a, b):
        return a + b

    def maxpool(self, x, k, s, pad):
        return self.tf.nn.max_pool2d(self._pad(x, pad), k, s, "VALID")

    def gap(self, x):
        return self.tf.reduce_mean(x, axis=[1, 2])


def build_keras(arch: Callable, size: int = 224, num_classes: int = 1000, name: str = "net"):
    import keras  # deferred: heavy, and its backend is fixed at first import

    inp = keras.Input((size, size, 3), name="image")
    out = arch(KerasOps(keras), inp, size=size, num_classes=num_classes)
    return keras.Model(inp, out, name=name)


def load_keras(model, mapped: Mapping[str, np.ndarray]) -> None:
    """Assign every Keras variable its mapped array; checked one to one (path and shape) before any write."""
    targets = {w.path: tuple(w.shape) for w in model.weights}
    if len(targets) != len(model.weights):
        raise ValueError("Keras model has two variables with one path")
    check_targets(mapped, targets, "Keras")
    for w in model.weights:
        w.assign(mapped[w.path])


def build_tf(arch: Callable, mapped: Mapping[str, np.ndarray], size: int = 224, num_classes: int = 1000):
    """A tf.Module running ``arch`` with tf.nn ops; its variables are exactly the key map's, checked."""
    import tensorflow as tf  # deferred: heavy

    targets = {p.tf_path: p.tf_shape for p in key_map(arch, size=size, num_classes=num_classes)}
    check_targets(mapped, targets, "TensorFlow")

    class TFNet(tf.Module):
        def __init__(self):
            super().__init__(name="net")
            self.vars = {k: tf.Variable(mapped[k], trainable=False, name=k.replace("/", "__")) for k in targets}

        def __call__(self, x):
            return arch(TFOps(tf, self.vars), x, size=size, num_classes=num_classes)

    return TFNet()
