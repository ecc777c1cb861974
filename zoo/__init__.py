"""zoo: a vision and NLP model zoo with benchmarks.

    import zoo
    zoo.list_models("*resnet*")            # names
    spec = zoo.get_spec("resnet50")        # preprocessing, weights, reference metrics, cost
    model = zoo.create_model("resnet50")   # a ZooModel (nn.Module) with preprocess/postprocess
"""

from .registry import create_model, get_spec, list_models, register_model

__version__ = "0.1.0"

__all__ = ["create_model", "get_spec", "list_models", "register_model", "__version__"]


def __getattr__(name):  # harness entry points load lazily: `import zoo` stays light
    if name == "bench":
        from .harness.speed import bench

        return bench
    if name == "evaluate":
        from .harness.evaluate import evaluate

        return evaluate
    if name == "train":
        from .harness.train import train

        return train
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
