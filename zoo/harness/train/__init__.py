"""The training loop shared by zoo's trainable models and the gradient-descent studies.

    from zoo.harness.train import TrainConfig, set_seed, train
    set_seed(0)
    model = zoo.create_model("mlp", activation="relu")
    cfg = TrainConfig(optimizer="sgd", lr=0.1, batch_size=32, epochs=10, seed=0)
    result = train(model, (x_train, y_train), cfg, loss_fn=nn.functional.cross_entropy)
    result["history"][-1]["train_loss"], result["diverged"]

Settings live in one frozen ``TrainConfig`` (config.py: what each means, refused when bad); ``train()`` takes
the model, the data, the config and the hooks (loss_fn or step_fn, val_fn, callbacks, checkpoint folder).

Each step, in order: take the next global batch of a per-epoch permutation seeded by (seed, epoch); compute
the loss (``loss_fn(model(x), y)``, or ``step_fn(model, batch)`` for models that compute their own, e.g.
seq2seq or QA) under autocast when ``dtype`` is bf16/fp16; add the explicit L1/L2 penalties (optim.py);
backward; clip; set the scheduled learning rate; optimizer step.

Checkpoints (checkpoint.py): ``last.safetensors`` in ``checkpoint_dir``, written atomically every
``checkpoint_every`` steps and at the end of every epoch, with the whole config. ``resume=True`` continues
from it; since the data order is a function of (seed, epoch) and the RNG state is restored, a run killed
mid-epoch and resumed ends with the same weights as an uninterrupted run (bit-for-bit on the same machine
and thread count). A checkpoint made with other trajectory settings (``config.TRAJECTORY``) is refused.

Data parallelism (``torchrun --nproc_per_node N``, gloo on CPU, nccl on CUDA): ``zoo.harness.distributed``
joins the process group; the step runs under ``DistributedDataParallel`` (rank 0's weights broadcast at the
start, gradients averaged in backward); each global batch of ``batch_size`` items is split across ranks
(data.py). Each rank's loss is weighted by its share of the global batch, so the averaged gradient equals
the single-process gradient of the same global batch even when the last batch does not split evenly. Only
rank 0 prints and writes checkpoints. Dropout masks differ from a single-process run (each rank draws its
own), so exact equality holds for models without dropout. With ``max_minutes`` the ranks share the slowest
rank's clock, so they all stop at the same step. Every rank runs ``val_fn``; it must give every rank the
same scores (e.g. compute on rank 0 and broadcast) so that early-stopping decisions agree.

Mixed precision (``dtype="bf16"``): the loss computation runs under ``torch.autocast`` on the training
device's type; weights, gradients, optimizer state, the penalties, validation and checkpoints stay fp32.

Validation and the kept weights: with ``val_data``, every epoch ends with a validation; the best epoch by
``val_<monitor>`` (strictly better than all before) is recorded in ``best``. Its weights are kept (and the
run ends with them) under early stopping (``patience`` with ``restore_best``), or always with
``keep_best``. ``patience=N`` stops the run after N consecutive epochs without improvement, i.e. at epoch
best_epoch + N. A run that stops mid-epoch (``max_steps``, ``max_minutes`` or a callback) keeps no record
of that partial epoch unless ``record_partial``: then it is recorded (and validated, and may become the best
epoch) with ``"complete": False``. Complete epochs carry no ``complete`` key.

Divergence: a non-finite loss, or a running mean of the loss above ``divergence_factor`` x the first step's
loss, stops the run with ``diverged=True`` (the weights are left as they were at that step).
"""

from .by_name import train_model, trainer_kind
from .checkpoint import CHECKPOINT_NAME, load_checkpoint
from .config import DTYPES, OPTIMIZERS, SCHEDULES, TrainConfig
from .loop import StopTraining, set_seed, train
from .validate import evaluate_loss

__all__ = ["train", "train_model", "trainer_kind", "TrainConfig", "set_seed", "evaluate_loss", "StopTraining", "load_checkpoint",
           "CHECKPOINT_NAME", "OPTIMIZERS", "SCHEDULES", "DTYPES"]
