"""Small trainable classifiers for feature vectors: a feed-forward MLP and an LSTM that reads a vector
as a sequence (an 8x8 digit row by row). Used by the gradient-descent studies (zoo/studies/).

    model = zoo.create_model("mlp", activation="gelu", depth=4, width=64, dropout=0.1)
    model.predict(model.example_items(2))   # [{"label": int, "probs": [...]}, ...]

Inputs are 1-D float vectors (sklearn's 8x8 digits: 64 values in 0..16, scaled by 1/16). No pretrained
weights exist for these; they are trained by ``zoo.harness.train.train``. The networks and builders live in
``_mlp_nets.py`` (torch); this module holds the specs.
"""

from __future__ import annotations

from ..registry import register_model
from ..spec import BuilderRef, ModelSpec, TabularPreprocess

# Weight init of the hidden Linear layers. "torch": PyTorch's default (kaiming_uniform, a=sqrt(5): the same
# for every activation); "auto": the init each activation family is usually paired with, He et al. 2015
# (kaiming_normal, fan_in) for relu/gelu and Glorot & Bengio 2010 (xavier_normal, with torch's gain) for
# sigmoid/tanh; biases zero.
INITS = ("torch", "auto", "kaiming", "xavier")
DIGITS_FEATURES = 64
DIGITS_CLASSES = 10
DIGITS_SCALE = 16.0  # sklearn digits pixels are counts 0..16


def _digits_spec(name: str, architecture: str, description: str, notes: str, builder: str) -> ModelSpec:
    """A trainable classifier of sklearn's 8x8 digits (64 features scaled by 1/16, 10 classes)."""
    return ModelSpec(
        name=name,
        task="tabular-classification",
        source="zoo",
        architecture=architecture,
        description=description,
        preprocess=TabularPreprocess(num_features=DIGITS_FEATURES, scale=f"divide:{DIGITS_SCALE:g}",
                                     source="sklearn.datasets.load_digits: 8x8 images, pixel counts 0..16"),
        num_classes=DIGITS_CLASSES,
        input_size=(DIGITS_FEATURES,),
        trainable=True,
        notes=notes,
        builder=BuilderRef(f"zoo.models._mlp_nets:{builder}"),
    )


@register_model("mlp", task="tabular-classification", source="zoo")
def mlp() -> ModelSpec:
    return _digits_spec("mlp", "MLP", "Feed-forward MLP (depth x width, sigmoid/tanh/relu/gelu, dropout) on 8x8 digits",
                        "overrides: width=64, depth=2, activation='relu', dropout=0.0, init='torch', num_classes, "
                        "num_features", "build_mlp")


@register_model("lstm_rows", task="tabular-classification", source="zoo")
def lstm_rows() -> ModelSpec:
    return _digits_spec("lstm_rows", "LSTM",
                        "LSTM reading an 8x8 digit row by row (8 steps of 8 pixels), last state -> classes",
                        "overrides: hidden=64, layers=1, rows=8, num_classes", "build_lstm_rows")
